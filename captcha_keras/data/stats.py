"""The numbers of a labelled folder (`dataset.py stats`): labels, lengths, characters, sizes, modes."""

import collections
import os

from captcha_keras.data.tables import format_table


def folder_stats(survey):
    """The numbers of a survey, as a JSON-ready dict.

    Keys: `folder`, `labels_file`, `images`, `skipped` (a list of
    `{"file", "reason"}`), `unique_labels`, `charset`, `label_lengths`
    (`{length: images}`), `characters` (`{character: occurrences}`, sorted
    by character), `sizes` (`{"WxH": images}`) and `modes` (`{mode: images}`),
    the last two most common first.
    """
    characters = collections.Counter("".join(survey.labels))
    lengths = collections.Counter(len(label) for label in survey.labels)
    sizes = collections.Counter(f"{w}x{h}" for w, h in survey.sizes)
    modes = collections.Counter(survey.modes)
    return {
        "folder": survey.root,
        "labels_file": os.path.basename(survey.labels_file) if survey.labels_file else None,
        "images": len(survey.files),
        "skipped": [{"file": file, "reason": reason} for file, reason in survey.problems],
        "unique_labels": len(set(survey.labels)),
        "charset": "".join(sorted(characters)),
        "label_lengths": dict(sorted(lengths.items())),
        "characters": dict(sorted(characters.items())),
        "sizes": dict(sizes.most_common()),
        "modes": dict(modes.most_common()),
    }


def format_stats(stats):
    """`folder_stats` as text tables for a person."""
    images = stats["images"]
    source = f"labels from {stats['labels_file']}" if stats["labels_file"] else "labels from file names"
    total_characters = sum(stats["characters"].values())
    sections = [
        "\n".join(
            [
                f"folder: {stats['folder']} ({source})",
                f"labelled images: {images:,} ({stats['unique_labels']:,} distinct labels)",
                f"skipped files: {len(stats['skipped']):,}",
                f"charset: {stats['charset']}",
            ]
        ),
        format_table(
            ["label length", "images", "share"], [[n, k, k / images] for n, k in stats["label_lengths"].items()]
        ),
        format_table(
            ["character", "count", "share"], [[c, k, k / total_characters] for c, k in stats["characters"].items()]
        ),
        format_table(["size (WxH)", "images", "share"], [[s, k, k / images] for s, k in stats["sizes"].items()]),
        format_table(["mode", "images", "share"], [[m, k, k / images] for m, k in stats["modes"].items()]),
    ]
    if stats["skipped"]:
        sections.append(format_table(["skipped file", "reason"], [[s["file"], s["reason"]] for s in stats["skipped"]]))
    return "\n\n".join(sections)
