#!/usr/bin/env python3
"""Fails when an #include in src/ crosses the module layers declared in CMakeLists.txt.

Usage: check_layers.py SRC_DIR "module:allowed,modules" ...

Each module is a folder under src/ (its subfolders belong to it). A file of module M may include
headers of M itself and of the modules M's line allows; anything else is an arrow pointing up or
sideways (docs/architecture.md, "Layers"). Prints every violation with file and line; exit 1 if any.
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"')


def parse_layers(specs):
    layers = {}
    for spec in specs:
        module, _, allowed = spec.partition(":")
        layers[module] = {m for m in allowed.split(",") if m}
    return layers


def violations(src, layers):
    found = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".cpp", ".hpp"):
            continue
        module = path.relative_to(src).parts[0]
        if module not in layers:
            found.append(f"{path.relative_to(src)}: module '{module}' has no layer in CMakeLists.txt")
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            target = match.group(1)
            if target == module or target in layers[module]:
                continue
            if (src / target).is_dir():
                found.append(f"{path.relative_to(src)}:{number}: module '{module}' includes "
                             f"'{target}/', which its layer does not allow ({line.strip()})")
    return found


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    src = pathlib.Path(argv[1])
    layers = parse_layers(argv[2:])
    found = violations(src, layers)
    for item in found:
        print(item)
    checked = sum(1 for p in src.rglob("*") if p.suffix in (".cpp", ".hpp"))
    print(f"layering: {checked} files checked, {len(found)} violations")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
