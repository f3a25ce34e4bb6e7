"""Allow-list policy for pickle imports: known data constructors are info, everything else a finding.

Sources for the deny categories: shared/research/supply-chain.md section 2 (picklescan, modelscan and
fickling advisories) and "Hide and Seek" (arXiv 2508.19774).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from mlaudit.findings import Severity

_TORCH_STORAGES = [
    f"{t}Storage"
    for t in (
        "Float",
        "Double",
        "Half",
        "BFloat16",
        "Long",
        "Int",
        "Short",
        "Char",
        "Byte",
        "Bool",
        "ComplexFloat",
        "ComplexDouble",
        "QInt8",
        "QUInt8",
        "QInt32",
        "QUInt4x2",
        "QUInt2x4",
        "Untyped",
    )
]
_TORCH_DTYPES = [
    "float16",
    "float32",
    "float64",
    "bfloat16",
    "half",
    "float",
    "double",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "long",
    "int",
    "short",
    "qint8",
    "quint8",
    "qint32",
    "float8_e4m3fn",
    "float8_e5m2",
    "strided",
    "sparse_coo",
    "sparse_csr",
    "per_tensor_affine",
    "per_channel_affine",
    "channels_last",
    "contiguous_format",
    "preserve_format",
    "Size",
    "device",
    "Tensor",
    "dtype",
]
_TORCH_REBUILD = [
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
    "_rebuild_device_tensor_from_numpy",
    "_rebuild_qtensor",
    "_rebuild_sparse_tensor",
    "_rebuild_nested_tensor",
    "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass",
    "_rebuild_from_type_v2",
]

# numpy scalar types, as fitted scikit-learn objects hold them (OneHotEncoder(dtype=np.float64)): classes
# whose construction makes a number
_NUMPY_SCALARS = [
    "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
    "float64", "longdouble", "complex64", "complex128", "str_", "bytes_", "intc", "uintc", "intp", "uintp",
    # numpy 2 pickles some by these names (np.bool_ as numpy.bool)
    "bool", "byte", "ubyte", "short", "ushort", "longlong", "ulonglong", "half", "single", "double", "csingle",
    "cdouble", "clongdouble", "datetime64", "timedelta64",
]  # fmt: skip
# elementwise math ufuncs, as FunctionTransformer(np.log1p) pickles them (by name): importing or calling one
# computes on the numbers it is given and nothing else
_NUMPY_UFUNCS = [
    "absolute", "abs", "negative", "positive", "sign", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
    "sqrt", "cbrt", "square", "reciprocal", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "arcsinh", "arccosh", "arctanh", "floor", "ceil", "trunc", "rint", "add", "subtract", "multiply",
    "divide", "true_divide", "power", "maximum", "minimum", "fmax", "fmin", "isnan", "isfinite", "isinf",
]  # fmt: skip

SAFE: frozenset[str] = frozenset(
    [
        "argparse.Namespace",  # a training script's arguments in a checkpoint: sets attributes, nothing else
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        "collections.deque",
        "copyreg._reconstructor",
        "copy_reg._reconstructor",
        "_codecs.encode",
        "builtins.set",
        "builtins.frozenset",
        "builtins.slice",
        "builtins.complex",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.int",
        "builtins.float",
        "builtins.str",
        "builtins.bool",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.range",
        "builtins.object",
        "__builtin__.set",
        "__builtin__.frozenset",
        "__builtin__.slice",
        "__builtin__.complex",
        "__builtin__.bytearray",
        "__builtin__.object",
        "__builtin__.unicode",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._mt19937._mt19937_ctor",
        "numpy.random.mtrand._rand",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle.NDArrayWrapper",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "torch.storage._TypedStorage",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch.nn.parameter.Parameter",
        "torch._tensor._rebuild_from_type_v2",
        "torch.jit._pickle.build_intlist",
        "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_doublelist",
        "torch.jit._pickle.build_boollist",
        "torch.jit._pickle.restore_type_tag",
    ]
    + [f"numpy.{t}" for t in _NUMPY_SCALARS + _NUMPY_UFUNCS]
    + [f"torch.{s}" for s in _TORCH_STORAGES + _TORCH_DTYPES]
    + [f"torch._utils.{f}" for f in _TORCH_REBUILD]
)


def _ml_classes() -> frozenset[str]:
    text = resources.files("mlaudit.supplychain.scan").joinpath("ml_classes.txt").read_text("utf-8")
    return frozenset(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


# The scikit-learn, scipy.sparse and pandas names that reconstruct state, one by one (scripts/ml-allowlist.py:
# the classes those libraries define themselves, outside testing / I/O / parallel modules, and the functions
# real pickles of fitted estimators and data frames import; reviewed for side effects). A name of the same
# packages not on it is an unknown import: its shape (a CamelCase name) says nothing of what it does.
ML_CLASSES: frozenset[str] = _ml_classes()


@dataclass(frozen=True)
class Rule:
    prefixes: tuple[str, ...]  # "os" matches os and os.*; "builtins.eval" matches that name exactly
    severity: Severity
    kind: str
    why: str


RULES: tuple[Rule, ...] = (
    Rule(
        ("picklescan", "fickling", "modelscan", "mlaudit"),
        Severity.CRITICAL,
        "scanner-evasion",
        "imports a model scanner, a known way to switch scanners off before the payload",
    ),
    Rule(
        (
            "pickle",
            "_pickle",
            "cPickle",
            "dill",
            "cloudpickle",
            "shelve",
            "jsonpickle",
            "marshal",
            "torch.load",
            "torch.serialization",
            "torch.storage._load_from_bytes",
            "torch.hub",
            "torch.jit",
            "torch.package",
            "joblib.load",
            "joblib.numpy_pickle.load",
            "numpy.load",
            "numpy.lib.npyio",
            "numpy.lib.format",
            "yaml",
            "keras.models",
            "keras.saving",
            "tensorflow",
            "tf_keras",
        ),
        Severity.CRITICAL,
        "nested-loader",
        "calls another deserialiser: the inner payload escapes a scan of the outer file",
    ),
    Rule(
        (
            "os",
            "posix",
            "nt",
            "subprocess",
            "_posixsubprocess",
            "pty",
            "commands",
            "popen2",
            "platform",
            "builtins.eval",
            "builtins.exec",
            "builtins.compile",
            "builtins.__import__",
            "builtins.breakpoint",
            "builtins.input",
            "builtins.help",
            "__builtin__.eval",
            "__builtin__.execfile",
            "__builtin__.compile",
            "__builtin__.__import__",
            "__builtin__.file",
            "builtins.memoryview",
            "runpy",
            "pydoc",
            "code",
            "codeop",
            "cProfile",
            "profile",
            "pstats",
            "trace",
            "timeit",
            "doctest",
            "idlelib",
            "lib2to3",
            "ensurepip",
            "pip",
            "venv",
            "setuptools",
            "distutils",
            "multiprocessing",
            "concurrent",
            "threading",
            "_thread",
            "asyncio",
            "ctypes",
            "_ctypes",
            "types",
            "importlib",
            "pkgutil",
            "imp",
            "zipimport",
            "sys",
            "gc",
            "inspect",
            "ast",
            "dis",
            "signal",
            "uuid._get_command_stdout",
            "_osx_support",
            "_aix_support",
            "imaplib.IMAP4_stream",
            "bdb",
            "pdb",
            "cgi",
            "cgitb",
            "torch.utils.collect_env",
            "torch._inductor",
            "torch.fx",
            "torch._dynamo",
            "torch.utils.bottleneck",
            "torch.utils.cpp_extension",
            "torch._C",
            "torch.ops",
            "torch.distributed",
            "torch.compiler",
            "numpy.f2py",
            "numpy.testing",
            "numpy.distutils",
            "numpy.ctypeslib",
            "mlflow",
            "IPython",
            "jinja2",
            "sympy",
            "numexpr",
            "pandas.eval",
            "pandas.core.computation",
        ),
        Severity.CRITICAL,
        "code-execution",
        "can run arbitrary code or commands when the file is loaded",
    ),
    Rule(
        (
            "builtins.open",
            "__builtin__.open",
            "io",
            "_io",
            "codecs.open",
            "shutil",
            "tempfile",
            "pathlib",
            "glob",
            "fileinput",
            "filecmp",
            "logging",
            "zipfile",
            "tarfile",
            "sqlite3",
            "dbm",
            "mmap",
            "socket",
            "_socket",
            "ssl",
            "http",
            "urllib",
            "urllib2",
            "urllib3",
            "requests",
            "httpx",
            "aiohttp",
            "ftplib",
            "smtplib",
            "telnetlib",
            "poplib",
            "nntplib",
            "imaplib",
            "xmlrpc",
            "socketserver",
            "webbrowser",
            "smtpd",
            "pandas.read_csv",
            "pandas.read_pickle",
            "pandas.read_json",
            "pandas.io",
            "huggingface_hub",
            "boto3",
            "botocore",
        ),
        Severity.HIGH,
        "file-or-network",
        "reads or writes files or opens network connections when loaded",
    ),
    Rule(
        (
            "operator",
            "_operator",
            "functools",
            "builtins.getattr",
            "builtins.setattr",
            "builtins.delattr",
            "builtins.vars",
            "builtins.globals",
            "builtins.locals",
            "builtins.dir",
            "builtins.type",
            "builtins.classmethod",
            "builtins.staticmethod",
            "builtins.property",
            "builtins.super",
            "__builtin__.getattr",
            "__builtin__.setattr",
            "builtins.map",
            "builtins.filter",
            "builtins.apply",
            "__builtin__.apply",
            "builtins.__builtins__",
            "copyreg.__newobj__",
            "copyreg.__newobj_ex__",
        ),
        Severity.HIGH,
        "indirection",
        "reaches other callables indirectly (getattr, operator, partial)",
    ),
)


@dataclass(frozen=True)
class Verdict:
    severity: Severity
    kind: str
    why: str


def _matches(full: str, prefix: str) -> bool:
    return full == prefix or full.startswith(prefix + ".")


def classify(module: str, name: str) -> Verdict:
    """Severity of importing `module.name` in a pickle (never imports anything itself)."""
    full = f"{module}.{name}"
    if full in SAFE:
        return Verdict(Severity.INFO, "safe-constructor", "a known data constructor")
    # builtins under its Python 2 name, and dotted names that walk attributes (pathlib + os.system)
    alias = full.replace("__builtin__.", "builtins.", 1)
    parts = name.split(".")
    pieces = [full, alias] + [".".join(parts[i:]) for i in range(len(parts))] if len(parts) > 1 else [full, alias]
    for rule in RULES:
        if any(_matches(p, pre) for p in pieces for pre in rule.prefixes):
            return Verdict(rule.severity, rule.kind, rule.why)
    if module == "__torch__" or module.startswith("__torch__."):
        return Verdict(
            Severity.MEDIUM,
            "torchscript-class",
            "a TorchScript class: only torch.jit.load resolves it, by compiling the archive's code",
        )
    if module == "__main__" and "." not in name and not (name.startswith("__") and name.endswith("__")):
        return Verdict(
            Severity.CRITICAL,
            "main-module-import",
            "imports a name from __main__, the script that saved the file (e.g. torch.save(model) of a class "
            "defined there): loading runs whatever the loading script's __main__ binds to that name; save a "
            "state dict as safetensors instead",
        )
    if any(p.startswith("__") and p.endswith("__") for p in full.split(".")):
        return Verdict(
            Severity.CRITICAL,
            "dunder-access",
            "reaches a dunder attribute (__builtins__, __globals__, ...), a route to any callable",
        )
    if "." in name:
        return Verdict(
            Severity.CRITICAL,
            "attribute-chain",
            "a dotted name walks attributes from the module and can reach any object",
        )
    if full in ML_CLASSES:  # by name, as real files import them (not by the name's shape: issue 21, class 2)
        return Verdict(Severity.INFO, "ml-class", "reconstructs a machine-learning library object (state only)")
    return Verdict(
        Severity.MEDIUM,
        "unknown-import",
        "not on the allow-list of data constructors: loading imports it and may call it",
    )
