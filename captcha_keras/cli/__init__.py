"""The command-line programs: `captcha-keras COMMAND [flags]`, or `scripts/COMMAND.py [flags]`.

    captcha-keras read IMAGE...    read captchas with a shipped model or a run (no TensorFlow needed)
    captcha-keras train-ctc ...    scripts/train_ctc.py   (the main entry point)
    captcha-keras train-cnn ...    scripts/train_cnn.py
    captcha-keras predict ...      scripts/predict.py
    captcha-keras evaluate ...     scripts/evaluate.py
    captcha-keras generate ...     scripts/generate.py
    captcha-keras dataset ...      scripts/dataset.py
    captcha-keras export ...       scripts/export.py
    captcha-keras calibrate ...    scripts/calibrate.py
    captcha-keras serve ...        scripts/serve.py

Both spellings run the same `main(argv)` of a module here, one module a command
(`read` is the command a person types; predict.py stays for scripts and prints the same):

    read.py       read
    train.py      train-ctc and train-cnn
    predict.py    predict
    evaluate.py   evaluate
    generate.py   generate
    dataset.py    dataset
    export.py     export
    calibrate.py  calibrate (a trained run's confidence calibration, fitted again)
    serve.py      serve
    flags.py      the flags and error handling the commands share
"""

import importlib
import os
import sys

# The optional dependencies and the extra of pyproject.toml that installs each.
EXTRAS = {
    "tensorflow": "train",
    "keras": "train",
    "tensorboard": "train",
    "captcha": "train",
    "matplotlib": "train",
    "pydot": "train",
    "tqdm": "train",
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "python_multipart": "serve",
    "multipart": "serve",
    "tf2onnx": "export",
    "ai_edge_litert": "litert",
}
# command: (module of this package, its function taking argv).
COMMANDS = {
    "read": ("read", "main"),
    "train-ctc": ("train", "main_ctc"),
    "train-cnn": ("train", "main_cnn"),
    "predict": ("predict", "main"),
    "evaluate": ("evaluate", "main"),
    "generate": ("generate", "main"),
    "dataset": ("dataset", "main"),
    "export": ("export", "main"),
    "calibrate": ("calibrate", "main"),
    "serve": ("serve", "main"),
}


def usage():
    """The help of `captcha-keras` itself: its commands and where each lives."""
    lines = [
        "usage: captcha-keras COMMAND [flags]   (captcha-keras COMMAND --help for its flags; --version)",
        "",
        "commands:",
    ]
    for name, (module, function) in COMMANDS.items():
        try:
            code = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as error:
            lines.append(f"  {name:<10} (needs {missing_extra(error)})")
            continue
        # The two training commands share a module; each has a description of its own.
        text = code.DESCRIPTIONS[function] if module == "train" else code.__doc__
        lines.append(f"  {name:<10} {text.strip().splitlines()[0]}")
    return "\n".join(lines)


def missing_extra(error):
    """What to install for a `ModuleNotFoundError`: the extra that brings the module, in one line."""
    root = (error.name or "").split(".")[0]
    extra = EXTRAS.get(root)
    if extra is None:
        return f"the Python package {root!r}, which is not installed"
    return f"the {extra!r} extra ({root} is not installed): pip install 'captcha-keras[{extra}]'"


def main(argv=None):
    """Runs `captcha-keras COMMAND ...`; returns the command's exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from captcha_keras import __version__

        print(f"captcha-keras {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}. Expected one of: {', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    module, function = COMMANDS[command]
    # argparse names the program after sys.argv[0]: make it read "captcha-keras predict".
    sys.argv[0] = f"{os.path.basename(sys.argv[0] or 'captcha-keras')} {command}"
    try:
        return getattr(importlib.import_module(f"{__name__}.{module}"), function)(rest)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in EXTRAS:
            raise
        print(f"error: captcha-keras {command} needs {missing_extra(error)}", file=sys.stderr)
        return 2
