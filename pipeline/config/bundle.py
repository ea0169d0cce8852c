"""The four kinds of configuration a site changes, as versioned bundles of files.

    bundle = read_bundle("routing", Path("site/rules.yaml"))   # the files that make the version
    routing = load_bundle(bundle)                              # the loaded value (RoutingRules here)

A bundle is every file a kind's loader reads (a ruleset's detect.yaml and the files it names, a
policy layer and the base it `extends`, with its policy tests beside it), as text, so that what is
installed in the database (pipeline/config/versions.py) is exactly what was validated. Loading a
bundle writes its files to a temporary directory and calls the kind's own loader there: one loader
per kind, whether the files come from a path or from the database.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from pipeline.consent.policy import PolicyError, load_policy
from pipeline.detect.ruleset import RulesError, load_rules
from pipeline.route import DirectoryError, load_routing_rules, parse_directory


class ConfigError(ValueError):
    """A version that cannot be read or loaded; the message is one line naming the file and what is wrong."""


@dataclass(frozen=True)
class Bundle:
    kind: str
    entry: str  # the file the loader starts from, relative to the bundle's root
    files: tuple[tuple[str, str], ...]  # (relative path, text), sorted by path

    @property
    def digest(self) -> str:
        h = hashlib.sha256(f"{self.kind}\0{self.entry}\0".encode())
        for name, text in self.files:
            h.update(f"{name}\0{text}\0".encode())
        return h.hexdigest()

    def text(self, name: str) -> str:
        return dict(self.files)[name]

    def to_json(self) -> str:
        return json.dumps(dict(self.files), sort_keys=True)

    @classmethod
    def of(cls, kind: str, entry: str, files_json: str) -> "Bundle":
        return cls(kind, entry, tuple(sorted(json.loads(files_json).items())))


@dataclass(frozen=True)
class Kind:
    name: str  # on the command line
    label: str  # in words
    collect: Callable[[Path], tuple[Path, list[Path]]]  # (entry, every file) from the path given
    load: Callable[[Path], Any]  # the kind's own loader, from the entry file


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or type(e).__name__}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path.name}: not YAML: {' '.join(str(e).split())[:200]}") from None


def _rules_files(path: Path) -> tuple[Path, list[Path]]:
    top = path / "detect.yaml" if path.is_dir() else path
    data = _yaml(top)
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ConfigError(f"{top.name}: a ruleset file names its rule files in `files`")
    return top, [top, *(top.parent / str(name) for name in data["files"])]


def _one_file(path: Path) -> tuple[Path, list[Path]]:
    if path.is_dir():
        raise ConfigError(f"{path}: give the file, not a directory")
    return path, [path]


def policy_tests_of(policy: Path) -> Path:
    """The policy tests that go with a policy file: `<name>-tests.yaml` beside it."""
    return policy.with_name(f"{policy.stem}-tests.yaml")


def _policy_files(path: Path) -> tuple[Path, list[Path]]:
    entry, _ = _one_file(path)
    files, seen, at = [], set(), entry
    while True:  # the `extends` chain, base last
        at = at.resolve()
        if at in seen:
            raise ConfigError(f"{at.name}: `extends` loops back to itself")
        seen.add(at)
        files.append(at)
        data = _yaml(at)
        if not isinstance(data, dict) or "extends" not in data:
            break
        at = at.parent / str(data["extends"])
    tests = policy_tests_of(entry)
    return entry, files + ([tests] if tests.exists() else [])


def _directory(path: Path):
    try:
        return parse_directory(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path.name}: not JSON: {e}") from None


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("rules", "detection rules", _rules_files, load_rules),
    Kind("routing", "routing rules", _one_file, load_routing_rules),
    Kind("directory", "provider directory", _one_file, _directory),
    Kind("policy", "consent policy", _policy_files, load_policy),
)}


def kind_of(name: str) -> Kind:
    if name not in KINDS:
        raise ConfigError(f"unknown kind {name!r}: one of {', '.join(KINDS)}")
    return KINDS[name]


def read_bundle(kind: str, path: Path) -> Bundle:
    """Every file of the version at `path`, as text (relative to the files' common directory)."""
    k = kind_of(kind)
    if not path.exists():
        raise ConfigError(f"cannot read {path}: no such file or directory")
    entry, files = k.collect(path)
    files = [f.resolve() for f in files]
    root = Path(os.path.commonpath([f.parent for f in files]))
    texts = []
    for f in dict.fromkeys(files):
        try:
            texts.append((f.relative_to(root).as_posix(), f.read_text(encoding="utf-8")))
        except OSError as e:
            raise ConfigError(f"cannot read {f}: {e.strerror or type(e).__name__}") from None
    return Bundle(kind, entry.resolve().relative_to(root).as_posix(), tuple(sorted(texts)))


class Materialised:
    """A bundle's files in a temporary directory (a context manager): `.entry` is the loader's path."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self._dir = tempfile.TemporaryDirectory(prefix=f"handoff-{bundle.kind}-")
        root = Path(self._dir.name)
        for name, text in bundle.files:
            target = root / name
            if root not in target.resolve().parents:
                raise ConfigError(f"{name}: a bundle's files stay inside it")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.root, self.entry = root, root / bundle.entry

    def __enter__(self) -> "Materialised":
        return self

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()


def load_bundle(bundle: Bundle) -> Any:
    """The loaded value (Rules, RoutingRules, Directory, Policy); ConfigError in one line otherwise."""
    with Materialised(bundle) as m:
        return load_path(bundle.kind, m.entry)


def load_path(kind: str, entry: Path) -> Any:
    try:
        return kind_of(kind).load(entry)
    except ConfigError:
        raise
    except (RulesError, PolicyError, DirectoryError) as e:
        raise ConfigError(" ".join(str(e).split())) from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a loader meeting a missing or odd field
        what = f"missing {e}" if isinstance(e, KeyError) else " ".join(str(e).split())[:300]
        raise ConfigError(f"{entry.name}: {what}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {e.filename or entry}: {e.strerror or type(e).__name__}") from None
