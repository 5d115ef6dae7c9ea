"""The model registry: builders register under a name; :func:`create` builds by name.

Builders are plain functions ``name(**options) -> nn.Module`` decorated with
:func:`register_model`. :func:`create` checks every option against the builder's signature
before calling it, so a misspelt option is an error, never silently ignored::

    model = create("caffnet", caff=False, dbpf=True)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch.nn as nn

from vesselseg.errors import ConfigError

Builder = Callable[..., nn.Module]

#: name -> builder function, filled when ``vesselseg.models.nets`` is imported.
MODELS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` under ``name`` (names are unique)."""

    def decorate(builder: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        params = inspect.signature(builder).parameters.values()
        if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params):
            raise TypeError(f"builder for {name!r} must list its options explicitly")
        MODELS[name] = builder
        return builder

    return decorate


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def model_options(name: str) -> dict[str, object]:
    """The options ``name`` accepts and their defaults."""
    builder = _builder(name)
    return {k: p.default for k, p in inspect.signature(builder).parameters.items()}


def create(name: str, **options: object) -> nn.Module:
    """Build the registered model ``name`` with ``options``.

    Raises:
        ConfigError: unknown model name (the message lists the valid ones), an option the
            builder does not take, or an invalid option value (the message names the option).
    """
    builder = _builder(name)
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(accepted)}"
        )
    return builder(**options)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (BatchNorm running statistics are buffers and not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _builder(name: str) -> Builder:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return MODELS[name]
