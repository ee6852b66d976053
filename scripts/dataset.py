"""Inspect, split, deduplicate and merge folders of labelled captcha images.

    python scripts/dataset.py stats DIR [--charset C] [--json OUT]
    python scripts/dataset.py split DIR --out OUT [--fractions 0.8 0.2] [--names train test] [--seed 0]
    python scripts/dataset.py dedupe DIR [--out OUT | --delete]
    python scripts/dataset.py merge SRC1 SRC2 ... --out OUT

Bad files (not an image, truncated, no label, a label outside --charset) are
reported by name and skipped; --strict makes them an error. Nothing is
deleted or moved unless asked (dedupe --delete).
"""

import argparse
import json
import sys

import _path  # noqa: F401


def parse_args(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--charset", help="a preset or literal characters; labels with others are skipped")
    common.add_argument("--strict", action="store_true", help="any bad file is an error instead of being skipped")
    common.add_argument("--workers", type=int, default=2, help="processes decoding large folders")

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = p.add_subparsers(dest="command", required=True)

    stats = commands.add_parser("stats", parents=[common], help="counts, label lengths, characters, sizes")
    stats.add_argument("dir")
    stats.add_argument("--json", help="also write the numbers to this file")

    split = commands.add_parser("split", parents=[common], help="seeded split into OUT/<name>/ folders")
    split.add_argument("dir")
    split.add_argument("--out", required=True)
    split.add_argument("--fractions", type=float, nargs="+", default=[0.8, 0.2])
    split.add_argument("--names", nargs="+", default=["train", "test"])
    split.add_argument("--seed", type=int, default=0)
    split.add_argument("--copy", action="store_true", help="copy files instead of hard-linking them")

    dedupe = commands.add_parser("dedupe", parents=[common], help="find images with the same pixels")
    dedupe.add_argument("dir")
    action = dedupe.add_mutually_exclusive_group()
    action.add_argument("--out", help="copy the images without their duplicates here")
    action.add_argument("--delete", action="store_true", help="delete the duplicates in place")

    merge = commands.add_parser("merge", parents=[common], help="copy several folders into one")
    merge.add_argument("sources", nargs="+")
    merge.add_argument("--out", required=True)
    return p.parse_args(argv)


def survey(folder, args):
    from captcha_keras.data import tools

    result = tools.survey_folder(folder, charset=args.charset, strict=args.strict, workers=args.workers,
                                 progress=f"checking {folder}")
    if result.problems and args.command != "stats":
        print(tools.format_problems(result.problems), file=sys.stderr)
    return result


def stats(args):
    from captcha_keras.data import tools

    numbers = tools.folder_stats(survey(args.dir, args))
    print(tools.format_stats(numbers))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(numbers, f, indent=2, ensure_ascii=False)


def split(args):
    from captcha_keras.data import tools

    parts = tools.split_folder(survey(args.dir, args), args.out, args.fractions, args.names, args.seed,
                               link=not args.copy)
    print(tools.format_split(parts, args.out))


def dedupe(args):
    from captcha_keras.data import tools

    folder = survey(args.dir, args)
    groups = tools.find_duplicates(folder)
    print(tools.format_duplicates(groups, len(folder.files)))
    if args.out:
        kept = tools.copy_unique(folder, groups, args.out)
        print(f"copied {len(kept):,} images to {args.out}")
    elif args.delete:
        deleted = tools.delete_duplicates(folder, groups)
        print(f"deleted {len(deleted):,} duplicates from {args.dir}")
    else:
        print("nothing changed (pass --out OUT to copy the unique images, or --delete)")


def merge(args):
    from captcha_keras.data import tools

    rows = tools.merge_folders([survey(folder, args) for folder in args.sources], args.out)
    print(tools.format_merge(rows))


COMMANDS = {"stats": stats, "split": split, "dedupe": dedupe, "merge": merge}


def main(args):
    from captcha_keras.cli import fail
    from captcha_keras.data.tools import DataError

    try:
        COMMANDS[args.command](args)
    except (DataError, FileExistsError, FileNotFoundError, ValueError, OSError) as error:
        fail(error)
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
