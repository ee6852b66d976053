"""What the flags leave open, settled from the `--init-from` run and the folder data."""

import os

from captcha_keras.arithmetic import are_questions
from captcha_keras.charset import DEFAULT_CHARSET
from captcha_keras.charset import Charset
from captcha_keras.charset import parse_length
from captcha_keras.data.folder import scan_folder
from captcha_keras.data.labels import characters_outside
from captcha_keras.data.labels import labels_charset
from captcha_keras.data.labels import suspicious_labels
from captcha_keras.data.splits import load_splits
from captcha_keras.data.styles import check_style
from captcha_keras.data.texts import character_weights
from captcha_keras.data.texts import resolve_emphasis
from captcha_keras.runs import BASE_MODEL_NAME
from captcha_keras.runs import CONFIG_FILE
from captcha_keras.runs import RunConfig
from captcha_keras.runs import base_model
from captcha_keras.runs import is_shipped
from captcha_keras.training.finetune import class_map
from captcha_keras.training.finetune import load_source
from captcha_keras.training.finetune import output_layer_names
from captcha_keras.training.finetune import transfer_output_classes
from captcha_keras.training.finetune import transfer_weights
from captcha_keras.training.geometry import SYNTHETIC_SIZE
from captcha_keras.training.geometry import check_time_steps
from captcha_keras.training.geometry import choose_geometry
from captcha_keras.training.geometry import image_sizes
from captcha_keras.training.pseudo import join_folders
from captcha_keras.training.pseudo import pseudo_folder


def source_normalization(model):
    """The `ImageNormalization` mode of a model (`"none"` without the layer)."""
    from captcha_keras.models.normalization import ImageNormalization

    modes = [layer.mode for layer in model.layers if isinstance(layer, ImageNormalization)]
    return modes[0] if modes else "none"


def resolve_inputs(config):
    """Settles what the flags left open, in place: the `--init-from` source's
    architecture and input, the folder data, the charset and label lengths.

    Returns:
        `(splits, source_model, source_config)`, each None when unused.
    """
    source_model = source = None
    if config.init_from and os.path.abspath(config.init_from) == os.path.abspath(config.run_dir):
        raise ValueError(
            f"--init-from {config.init_from} is this run's own folder, which the run would replace; "
            "give the new run another --run-name."
        )
    resumed = _resumed_run(config)
    if resumed is not None:
        # What the run was started with, where this invocation's flags leave it open: the
        # checkpoint's input and output layers have those shapes, whatever today's defaults are.
        config.charset = config.charset or resumed.charset
        if not config.channels_chosen:
            config.grayscale, config.channels_chosen = resumed.channels == 1, True
    if config.init_from:
        source_model, source = load_source(config.init_from)
        if source.family != config.family:
            raise ValueError(f"--init-from {config.init_from} is a {source.family} run; this trains {config.family}.")
        config.arch = source.arch
        # The recurrent layers read whole columns of the source's height, so the height
        # stays; the convolutions and GRUs take any width, so a folder run keeps
        # its images' aspect ratio at that height (choose_input_size).
        config.height = config.height or source.height
        if config.data is None or config.family != "ctc":  # a multi-head model's Flatten fixes its width
            config.width = config.width or source.width
        if config.grayscale is None or not config.channels_chosen:
            config.grayscale = source.channels == 1
        config.keep_aspect = config.keep_aspect or source.keep_aspect
        config.normalize = source_normalization(source_model) if config.normalize == "auto" else config.normalize
        shown = config.init_from
        base = base_model()
        if base and os.path.abspath(config.init_from) == os.path.abspath(base):
            relative = os.path.relpath(base)
            shown = (
                f"{relative if not relative.startswith('..') else base}, the shipped base model (a CTC "
                "run on --data starts from it by default; --init-from none trains from scratch)"
            )
        print(
            f"Starting from {shown}: {source.arch}, {source.width}x{source.height}, "
            f"{source.channels} channel(s), charset {source.charset!r}."
        )
        if config.grayscale != (source.channels == 1):
            # transfer_weights converts the first convolution (convert_input_channels).
            print(
                f"It reads {'gray' if source.channels == 1 else 'RGB'} images; this run reads "
                f"{'gray' if config.grayscale else 'RGB'}: its first convolution is converted "
                f"({'luma weights over R, G, B' if source.channels == 1 else 'the channels summed'}), so the "
                "run starts from what the source reads (exactly, unless the model normalises each image)."
            )
    if config.normalize == "auto":
        config.normalize = "none"
    splits = None
    if config.init_from is None and config.data is None:
        config.width, config.height = config.width or SYNTHETIC_SIZE[0], config.height or SYNTHETIC_SIZE[1]
    if config.data:
        choose_input_size(config)
        splits = load_splits(
            config.data,
            width=config.width,
            height=config.height,
            channels=1 if config.grayscale else 3,
            seed=config.seed,
            val_data=config.val_data,
            val_split=config.val_split,
            test_data=config.test_data,
            keep_aspect=config.keep_aspect,
            charset=config.charset,
            strict=config.strict,
        )
        if config.pseudo_labels is not None:
            pseudo = pseudo_folder(
                config.pseudo_labels, config.width, config.height, 1 if config.grayscale else 3, config.keep_aspect
            )
            splits.train = join_folders(splits.train, pseudo)
            print(f"Pseudo-labelled: {len(pseudo.files):,} images of {pseudo.root} join the training images.")
        print(splits.describe())
        warn_about_labels(splits.texts)
    if config.charset is None:
        config.charset = default_charset(splits, source, config.init_from)
        unseen = characters_outside("".join(splits.test.texts), config.charset) if splits and splits.test else ""
        if unseen:
            print(
                f"warning: the test images hold {unseen!r}, which no training or validation label shows: the run "
                "cannot read them (--charset to include them)."
            )
    if config.length is None:
        if splits is not None:
            lengths = [len(t) for t in splits.texts]
            config.length = f"{min(lengths)}-{max(lengths)}" if min(lengths) != max(lengths) else str(max(lengths))
        else:
            config.length = source.length if source is not None else "4"
        config.min_length, config.max_length = parse_length(config.length)
    config.task = run_task(config, splits)
    if config.task == "arithmetic" and splits is not None:
        print("Every label is an arithmetic question: the run's readings will carry their answers.")
    config.emphasize = resolve_emphasis(config.emphasize, config.charset)
    character_weights(config.charset, config.emphasize, config.emphasis)  # refuses bad ones now, not after --overwrite
    if splits is None or config.synthetic_ratio:  # only a run that draws synthetic captchas needs a style
        check_style(config.style, config.charset, config.min_length, config.max_length)
    return splits, source_model, source


def run_task(config, splits):
    """`"arithmetic"` when every label the run learns is an arithmetic question, else `"text"`."""
    if splits is not None:
        texts = list(splits.texts)
        if config.synthetic_ratio and config.style != "arith":
            return "text"
        return "arithmetic" if are_questions(texts) else "text"
    return "arithmetic" if config.style == "arith" else "text"


def _resumed_run(config):
    """The `RunConfig` a resumed run recorded when it started, or None."""
    if not config.resume or not os.path.isfile(os.path.join(config.run_dir, CONFIG_FILE)):
        return None
    return RunConfig.load(config.run_dir)


def default_charset(splits, source, init_from):
    """The charset a run takes when `--charset` is not given.

    A folder run reads its labels' characters. From the shipped base model
    (62 characters) too: readings can never hold a character the data never
    has, and the output layer keeps the base's weights for the characters
    both have (`initialise_from`). From a run of yours, the run's charset
    when the labels fit in it (a model fine-tuned on new captchas keeps
    reading what it read), else the labels'. A synthetic run takes its
    source's charset, else the default.
    """
    if splits is None:
        return source.charset if source is not None else Charset(DEFAULT_CHARSET).characters
    needed = labels_charset(splits.texts)
    if source is None:
        return needed
    outside = characters_outside(needed, source.charset)
    from_base = is_shipped(init_from) and os.path.basename(os.path.normpath(init_from)) == BASE_MODEL_NAME
    if set(needed) == set(source.charset) or (not outside and not from_base):
        return source.charset
    if outside:
        print(
            f"The labels use {outside!r}, outside the charset of {init_from}: the output layer is rebuilt for "
            f"the charset {needed!r}, keeping the weights of the characters both have."
        )
    else:
        print(
            f"Charset: the labels' {len(needed)} characters {needed!r} of the base model's {len(source.charset)} "
            "(its weights kept for them; --charset to read others the labels do not show)."
        )
    return needed


def choose_input_size(config):
    """Settles a folder run's width and height from its images (header sizes and labels), in place,
    and checks that a CTC model gets enough time steps; prints what it chose and why."""
    if not os.path.isdir(config.data):
        return  # load_splits says so, clearly
    scan = scan_folder(config.data, charset=config.charset)
    if config.width is not None and config.height is not None:
        if config.family == "ctc" and scan.labels:
            check_time_steps(config.width, scan.labels)
        return
    sizes = image_sizes(config.data, scan.files)
    config.width, config.height, reasons = choose_geometry(
        sizes, scan.labels, config.family, config.width, config.height
    )
    print(f"Input {config.width}x{config.height} (--width/--height to choose another): {'; '.join(reasons)}.")


def warn_about_labels(texts):
    """Prints, before training, labels that look like file names or hashes rather than captcha texts."""
    for reason, (count, examples) in suspicious_labels(texts).items():
        print(
            f"warning: {count:,} label(s) look wrong ({reason}), e.g. {', '.join(map(repr, examples))}. "
            "Labels come from file names (LABEL.png, LABEL_N.png, LABEL_<md5 or uuid>.png) or a labels.csv; "
            "check that the folder follows one of them."
        )


def initialise_from(model, source_model, source, charset):
    """Copies the source run's weights. When the charset differs, the output
    layers are rebuilt, with the classes of the characters both charsets have
    copied to their new places (`transfer_output_classes`)."""
    outputs = output_layer_names(model) if source.charset != charset.characters else set()
    copied, rebuilt = transfer_weights(source_model, model, outputs)
    print(
        f"--init-from: copied the weights of {len(copied)} layers; freshly initialised: {', '.join(rebuilt) or 'none'}."
    )
    source_names = {layer.name for layer in source_model.layers}
    for name in sorted(outputs & source_names):
        # The special class after the charset: the CTC blank, or multi-head's
        # "no character", which a fixed-length multi-head model does not have.
        extra = model.get_layer(name).output.shape[-1] - len(charset.characters)
        source_extra = source_model.get_layer(name).output.shape[-1] - len(source.charset)
        mapping = class_map(source.charset, charset.characters, extra, source_extra)
        shared = transfer_output_classes(source_model.get_layer(name), model.get_layer(name), mapping)
        if shared:
            characters = sum(m >= 0 for m in mapping[: len(charset.characters)])
            print(
                f"--init-from: {name} starts from the source's weights for {characters} of its "
                f"{len(charset.characters)} characters."
            )
