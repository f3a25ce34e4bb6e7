"""Property inference: a global property of a training set read off the trained model's parameters."""
