"""Privacy backdoors (Feng & Tramer 2024, arXiv 2404.00473): data traps in pretrained weights that
write single fine-tuning examples into the weights; build them to measure the risk, detect them to
check a download."""
