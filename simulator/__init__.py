"""wafersim: a cycle-level simulator of layer-parallel training on a wafer-scale mesh (see README.md)."""


def version() -> str:
    """The installed wafersim version, or 'unknown (not installed)'."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("wafersim")
    except PackageNotFoundError:
        return "unknown (not installed)"
