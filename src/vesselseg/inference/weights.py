"""Model weights as safetensors plus a JSON model card; loading them back into a ready model.

``<stem>.safetensors`` holds only tensors (no code, no pickle). ``<stem>.json`` -- the model
card -- holds everything needed to rebuild and use the model: registry name and options,
preprocessing config and training statistics, dataset, protocol, metrics, code version.
Shipped weights live in ``vesselseg/weights/`` and are addressed by name (``drive``, ...).
"""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from vesselseg._version import __version__
from vesselseg.errors import ConfigError, InputError
from vesselseg.io.files import atomic_write_bytes, atomic_write_text
from vesselseg.settings import repo_root
from vesselseg.validation import finite_number, whole_number

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that need it: listing and resolving weights (the web
# server's process, `--help`) must not pay seconds and ~200 MB for it.

CARD_FORMAT = "vesselseg-model-card/1"


def code_version() -> str:
    """``<package version>+g<git sha>[-dirty]`` when run from a checkout, else the version."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo_root(), capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_root(),
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'-dirty' if dirty else ''}" if sha else __version__


def save_weights(model: torch.nn.Module, card: dict, path: str | Path) -> Path:
    """Write ``path`` (``.safetensors``) and the card beside it (``.json``), atomically."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    data = save(state, metadata={"format": CARD_FORMAT, "model": card["model"]["name"]})
    atomic_write_bytes(path, data, durable=True)
    write_card(card, path.with_suffix(".json"))
    return path


def write_card(card: dict, path: str | Path) -> None:
    path = Path(path)
    atomic_write_text(path, json.dumps({"format": CARD_FORMAT, **card}, indent=2, default=float) + "\n",
                      durable=True)


#: Shipped weights that are not vessel models: found by name, never offered as vessel weights.
AUXILIARY_WEIGHTS = ("disc", "av")


def shipped_weights(vessels_only: bool = False) -> dict[str, Path]:
    """Names of the weights shipped in the package -> their safetensors path (``vessels_only``:
    without :data:`AUXILIARY_WEIGHTS`, i.e. the choices for segmenting vessels)."""
    folder = resources.files("vesselseg") / "weights"
    out = {}
    try:
        for entry in folder.iterdir():
            name = entry.name[: -len(".safetensors")]
            if entry.name.endswith(".safetensors") and not (vessels_only and name in AUXILIARY_WEIGHTS):
                out[name] = Path(str(entry))
    except (FileNotFoundError, NotADirectoryError):
        pass
    return out


def resolve_weights(weights: str | Path) -> Path:
    """A shipped name (``drive``) or a path -> the ``.safetensors`` file."""
    shipped = shipped_weights()
    if str(weights) in shipped:
        return shipped[str(weights)]
    path = Path(weights)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.exists():
        names = ", ".join(sorted(shipped)) or "none shipped"
        raise InputError(f"{weights}: no such weights file (shipped names: {names})")
    if not path.is_file():  # a FIFO would block the reader forever
        raise InputError(f"{path}: not a regular file (a pipe, socket or device); expected a .safetensors file")
    if path.suffix in (".pt", ".pth", ".pkl", ".ckpt"):
        raise InputError(f"{path}: pickled weights are refused; only .safetensors files load")
    return path


def read_card(weights_path: Path) -> dict:
    """The model card beside ``weights_path``, checked (:func:`check_card`); errors name the card file."""
    card_path = weights_path.with_suffix(".json")
    if not card_path.exists():
        raise InputError(f"{card_path}: model card missing (it must sit beside the weights)")
    if not card_path.is_file():
        raise InputError(f"{card_path}: not a regular file (a pipe, socket or device); expected a model card")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{card_path}: not a valid model card ({exc})") from None
    except OSError as exc:
        raise InputError(f"{card_path}: cannot read ({exc.strerror})") from None
    check_card(card, card_path)
    return card


def _card_section(card: dict, key: str, source, name: str | None = None) -> dict:
    value = card.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{source}: model card field {name or repr(key)} must be a mapping, not "
                         f"{type(value).__name__} {value!r}")
    return value


def check_card(card, source) -> None:
    """InputError naming ``source`` (the card file) if a field the loader uses has the wrong type or value.

    Checked: ``model`` (``name`` a string, ``options`` a mapping), ``preprocess`` (as
    :class:`~vesselseg.preprocess.PreprocessConfig`), ``stats`` (finite ``mean``, ``std`` > 0,
    ``lo``, ``hi``), ``resolution.fov_diameter_px`` (positive) and ``protocol.patch_size``
    (a positive whole number). The model's own options are checked when it is built.
    """
    from vesselseg.preprocess import PreprocessConfig  # OpenCV: not for listing weights (the server's parent)

    if not isinstance(card, dict):
        raise InputError(f"{source}: a model card is a JSON object, not {type(card).__name__}")
    model = card.get("model")
    if not isinstance(model, dict) or "name" not in model:
        raise InputError(f"{source}: model card lacks the model name")
    if not isinstance(model["name"], str):
        raise InputError(f"{source}: model card field 'model.name' must be a string, not {model['name']!r}")
    _card_section(model, "options", source, "'model.options'")
    try:
        PreprocessConfig.from_dict(_card_section(card, "preprocess", source))
        stats = _card_section(card, "stats", source)
        if stats:
            for key in ("mean", "std", "lo", "hi"):
                if key not in stats:
                    raise ConfigError(f"stats.{key}: missing")
                finite_number(stats[key], f"stats.{key}", 0 if key == "std" else None, lo_open=key == "std")
        diameter = _card_section(card, "resolution", source).get("fov_diameter_px")
        if diameter is not None:
            finite_number(diameter, "resolution.fov_diameter_px", 0, lo_open=True)
        patch = _card_section(card, "protocol", source).get("patch_size")
        if patch is not None:
            whole_number(patch, "protocol.patch_size", 1)
    except (ConfigError, TypeError) as exc:
        raise InputError(f"{source}: bad model card field {exc}") from None


def load_model(weights: str | Path) -> tuple[torch.nn.Module, dict]:
    """Rebuild the model named in the card and load its safetensors weights (eval mode)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from vesselseg.models import create

    path = resolve_weights(weights)
    card = read_card(path)
    try:
        model = create(card["model"]["name"], **(card["model"].get("options") or {}))
    except (ConfigError, TypeError, ValueError) as exc:  # unknown name, unknown or bad option
        raise InputError(f"{path.with_suffix('.json')}: cannot build the card's model ({exc})") from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable safetensors file ({exc})") from None
    import torch

    bad = [k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:  # a diverged run or a damaged file: every output would be NaN
        raise InputError(f"{path}: {len(bad)} weight tensor(s) hold NaN or infinite values (first: {bad[0]}); "
                         "the training diverged or the file is damaged")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes: another width or architecture
        raise InputError(f"{path}: weights do not fit model {card['model']['name']!r} "
                         f"({str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc})") from None
    if missing or unexpected:
        raise InputError(
            f"{path}: weights do not fit model {card['model']['name']!r} "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors)"
        )
    model.eval()
    return model, card
