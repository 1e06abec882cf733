#!/usr/bin/env python3
"""Builds data/corpus/python-docs.txt.gz, the default training corpus.

The corpus is English text that CPython itself ships under the PSF License
Agreement (see LICENSE-PSF.txt beside this file):

1. every topic of the reference manual in ``pydoc_data.topics`` (the text
   ``help("assert")`` prints), in sorted topic order;
2. the docstrings of the pure-Python standard library, read from the source
   with ``ast`` (nothing is imported): every module in
   ``sys.stdlib_module_names`` that has a ``.py`` file or package under the
   stdlib folder, in sorted dotted-module order, each module's docstring then
   its classes' and functions' docstrings in source order (nested ones too),
   each under its qualified name. The regression-test suite (``test``, and
   every ``test``/``tests``/``idle_test`` folder) is left out;
3. the docstrings of a fixed list of built-in (C) modules, read by import:
   ``BUILTIN_MODULES`` below, members in sorted name order.

Output is deterministic for a given Python build: sorted orders, a fixed
selection, '\\n' line ends, UTF-8, and a gzip header with mtime 0 and no file
name. The committed file was built with CPython 3.11.7; another version gives
a different text (and a different sha256), which the script warns about.

Usage: python3 data/corpus/build_corpus.py [--out PATH] [--text PATH]
Prints the figures data/README.md records (bytes, sha256 of both files).
Python 3 standard library only.
"""

import argparse
import ast
import gzip
import hashlib
import inspect
import io
import os
import sys
import sysconfig

import pydoc_data.topics

# The Python the committed corpus was built with.
BUILT_WITH = (3, 11, 7)

# Built-in (C) modules whose docstrings are taken by import; all exist in
# every CPython 3.11 build and have no import-time side effects.
BUILTIN_MODULES = ["builtins", "itertools", "math", "sys", "time"]

# Folders never entered: the test suites and byte-code caches.
SKIP_DIRS = {"test", "tests", "idle_test", "__pycache__", "site-packages"}


def topics():
    """(heading, text) for every reference-manual topic, sorted by name."""
    for name in sorted(pydoc_data.topics.topics):
        yield f"pydoc topic: {name}", pydoc_data.topics.topics[name]


def stdlib_sources(root):
    """(dotted module name, path) of every stdlib .py file, sorted by name."""
    found = []
    for top in sorted(sys.stdlib_module_names):
        if top in SKIP_DIRS:
            continue
        package = os.path.join(root, top)
        if os.path.isfile(package + ".py"):
            found.append((top, package + ".py"))
        elif os.path.isfile(os.path.join(package, "__init__.py")):
            for folder, dirs, files in os.walk(package):
                dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
                rel = os.path.relpath(folder, root).split(os.sep)
                for f in files:
                    if not f.endswith(".py"):
                        continue
                    stem = f[: -len(".py")]
                    parts = rel if stem == "__init__" else rel + [stem]
                    found.append((".".join(parts), os.path.join(folder, f)))
    return sorted(found)


def source_docstrings(module, path):
    """(qualified name, docstring) of a module, its classes and functions."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), filename=path)
    doc = ast.get_docstring(tree, clean=True)
    if doc:
        yield f"module {module}", doc

    def visit(node, qual):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{qual}.{child.name}"
                doc = ast.get_docstring(child, clean=True)
                if doc:
                    yield name, doc
                yield from visit(child, name)
            else:
                yield from visit(child, qual)

    yield from visit(tree, module)


def builtin_docstrings(module_name):
    """(qualified name, docstring) of a built-in module and its members."""
    module = __import__(module_name)
    if module.__doc__:
        yield f"module {module_name}", inspect.cleandoc(module.__doc__)
    for name, value in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        if not (inspect.isclass(value) or inspect.isroutine(value)):
            continue
        doc = value.__doc__
        if isinstance(doc, str) and doc.strip():
            yield f"{module_name}.{name}", inspect.cleandoc(doc)
        if inspect.isclass(value):
            for attr, member in sorted(vars(value).items()):
                if attr.startswith("_") and attr != "__init__":
                    continue
                doc = getattr(member, "__doc__", None)
                if isinstance(doc, str) and doc.strip():
                    yield f"{module_name}.{name}.{attr}", inspect.cleandoc(doc)


def corpus_text():
    """The whole corpus as one str, and the count of sections per part."""
    out = io.StringIO()
    counts = {"topics": 0, "source docstrings": 0, "builtin docstrings": 0}

    def emit(part, heading, text):
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
        out.write(f"{heading}\n\n{text}\n\n\n")
        counts[part] += 1

    for heading, text in topics():
        emit("topics", heading, text)
    root = sysconfig.get_paths()["stdlib"]
    for module, path in stdlib_sources(root):
        try:
            seen = set()
            for heading, doc in source_docstrings(module, path):
                if (heading, doc) not in seen:
                    seen.add((heading, doc))
                    emit("source docstrings", heading, doc)
        except (SyntaxError, UnicodeDecodeError, ValueError) as e:
            print(f"skipped {path}: {e}", file=sys.stderr)
    for module in BUILTIN_MODULES:
        for heading, doc in builtin_docstrings(module):
            emit("builtin docstrings", heading, doc)
    return out.getvalue(), counts


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "python-docs.txt.gz"))
    parser.add_argument("--text", help="also write the uncompressed text here")
    args = parser.parse_args()

    if sys.version_info[:3] != BUILT_WITH:
        print(
            f"warning: this is Python {sys.version.split()[0]}; the committed corpus "
            f"was built with {'.'.join(map(str, BUILT_WITH))}, so the text will differ",
            file=sys.stderr,
        )
    text, counts = corpus_text()
    data = text.encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as gz:
        gz.write(data)
    packed = buf.getvalue()
    with open(args.out, "wb") as f:
        f.write(packed)
    if args.text:
        with open(args.text, "wb") as f:
            f.write(data)

    print(f"python         {sys.version.split()[0]} ({sys.implementation.name})")
    for part, n in counts.items():
        print(f"{part:<14} {n} sections")
    print(f"text bytes     {len(data)} (= byte-level tokens)")
    print(f"text sha256    {hashlib.sha256(data).hexdigest()}")
    print(f"gzip bytes     {len(packed)}  {args.out}")
    print(f"gzip sha256    {hashlib.sha256(packed).hexdigest()}")
    cut = len(data) - len(data) // 10
    print(f"train tokens   {cut} (first 90%), held-out tokens {len(data) - cut}")


if __name__ == "__main__":
    main()
