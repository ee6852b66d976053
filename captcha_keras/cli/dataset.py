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

from captcha_keras.cli.flags import HelpFormatter


def parse_args(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--charset", help="a preset or literal characters; labels with others are skipped")
    common.add_argument("--strict", action="store_true", help="any bad file is an error instead of being skipped")
    common.add_argument("--workers", type=int, default=2, help="processes decoding large folders")

    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)

    stats = commands.add_parser(
        "stats", parents=[common], formatter_class=HelpFormatter, help="counts, label lengths, characters, sizes"
    )
    stats.add_argument("dir", help="the labelled folder")
    stats.add_argument("--json", help="also write the numbers to this file")

    split = commands.add_parser(
        "split", parents=[common], formatter_class=HelpFormatter, help="seeded split into OUT/<name>/ folders"
    )
    split.add_argument("dir", help="the labelled folder (never changed)")
    split.add_argument("--out", required=True, help="where the part folders go")
    split.add_argument("--fractions", type=float, nargs="+", default=[0.8, 0.2], help="shares of the parts")
    split.add_argument("--names", nargs="+", default=["train", "test"], help="names of the parts")
    split.add_argument("--seed", type=int, default=0, help="the same seed gives the same parts")
    split.add_argument("--copy", action="store_true", help="copy files instead of hard-linking them")

    dedupe = commands.add_parser(
        "dedupe", parents=[common], formatter_class=HelpFormatter, help="find images with the same pixels"
    )
    dedupe.add_argument("dir", help="the labelled folder")
    action = dedupe.add_mutually_exclusive_group()
    action.add_argument("--out", help="copy the images without their duplicates here")
    action.add_argument("--delete", action="store_true", help="delete the duplicates in place")

    merge = commands.add_parser(
        "merge", parents=[common], formatter_class=HelpFormatter, help="copy several folders into one"
    )
    merge.add_argument("sources", nargs="+", help="the labelled folders, in order")
    merge.add_argument("--out", required=True, help="an empty or missing folder")
    return p.parse_args(argv)


def survey(folder, args):
    from captcha_keras.data.survey import survey_folder
    from captcha_keras.data.tables import format_problems

    result = survey_folder(
        folder, charset=args.charset, strict=args.strict, workers=args.workers, progress=f"checking {folder}"
    )
    if result.problems and args.command != "stats":
        print(format_problems(result.problems), file=sys.stderr)
    return result


def stats(args):
    from captcha_keras.data.stats import folder_stats
    from captcha_keras.data.stats import format_stats

    numbers = folder_stats(survey(args.dir, args))
    print(format_stats(numbers))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(numbers, f, indent=2, ensure_ascii=False)


def split(args):
    from captcha_keras.data.partition import format_split
    from captcha_keras.data.partition import split_folder

    parts = split_folder(survey(args.dir, args), args.out, args.fractions, args.names, args.seed, link=not args.copy)
    print(format_split(parts, args.out))


def dedupe(args):
    from captcha_keras.data import dedupe as tool

    folder = survey(args.dir, args)
    groups = tool.find_duplicates(folder)
    print(tool.format_duplicates(groups, len(folder.files)))
    if args.out:
        kept = tool.copy_unique(folder, groups, args.out)
        print(f"copied {len(kept):,} images to {args.out}")
    elif args.delete:
        deleted = tool.delete_duplicates(folder, groups)
        print(f"deleted {len(deleted):,} duplicates from {args.dir}")
    else:
        print("nothing changed (pass --out OUT to copy the unique images, or --delete)")


def merge(args):
    from captcha_keras.data.merge import format_merge
    from captcha_keras.data.merge import merge_folders

    rows = merge_folders([survey(folder, args) for folder in args.sources], args.out)
    print(format_merge(rows))


COMMANDS = {"stats": stats, "split": split, "dedupe": dedupe, "merge": merge}


def main(argv=None):
    from captcha_keras.cli.flags import fail
    from captcha_keras.data.folder import DataError

    args = parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (DataError, FileExistsError, FileNotFoundError, ValueError, OSError) as error:
        fail(error)
    return 0
