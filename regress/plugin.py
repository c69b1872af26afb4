"""The pytest plugin (entry point ``pytest11: strangler``): a real stack and golden corpora.

Nothing happens unless a test asks for a fixture or ``strangler_corpus`` names a directory,
so installing strangler never changes another test suite. See docs/regress.md.

- ini ``strangler_routes`` (default ``routes.yaml``), ``strangler_stack`` (default
  ``strangler-stack.toml`` beside routes.yaml), ``strangler_corpus`` (directories whose
  ``*.har`` / ``*.flows`` files are collected: one item per recorded exchange);
- options ``--strangler-mode [CAP=]MODE[:PERCENT]`` (repeatable), ``--strangler-update-golden``,
  ``--strangler-base-url URL`` (check against a facade already running, start nothing);
- fixtures ``strangler_stack`` (one per session), ``strangler_stack_factory`` (more stacks, other
  modes), ``strangler_golden`` (the corpus as cases, checks and answers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from facade.config import Config
    from regress.check import GoldenAnswer, Rerecorded, Verdict
    from regress.corpus import Case, Manifest
    from regress.stack import ModeOverride, Stack


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("strangler", "strangler: golden-traffic regression tests")
    group.addoption(
        "--strangler-mode",
        action="append",
        default=[],
        metavar="[CAP=]MODE[:PERCENT]",
        help="mode override for the stack: 'extracted' (every capability with a service), "
        "'product-catalog=canary:50'; repeatable",
    )
    group.addoption(
        "--strangler-update-golden",
        action="store_true",
        help="re-record the golden corpus from the monolith and print what changed",
    )
    group.addoption(
        "--strangler-base-url",
        default=None,
        metavar="URL",
        help="check the corpus against this running facade instead of starting a stack",
    )
    parser.addini("strangler_routes", "routes.yaml of the stack", default="routes.yaml")
    parser.addini("strangler_stack", "stack file (default: strangler-stack.toml beside routes)")
    parser.addini("strangler_corpus", "directories of golden recordings", type="paths", default=[])


# the session's stack, started on first use ---------------------------------------------------


@dataclass
class _Session:
    config: pytest.Config
    stack: Stack | None = None
    stacks: list[Stack] = field(default_factory=list)
    routes_config: Config | None = None
    manifests: dict[Path, Manifest] = field(default_factory=dict)
    rerecorded: dict[Path, dict[int, Rerecorded]] = field(default_factory=dict)
    cases: dict[Path, list[Case]] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)

    @property
    def routes(self) -> Path:
        return _ini_path(self.config, "strangler_routes", "routes.yaml")

    @property
    def stack_file(self) -> Path:
        given = self.config.getini("strangler_stack")
        if given:
            return _ini_path(self.config, "strangler_stack", str(given))
        from regress.stackfile import DEFAULT_NAME

        return self.routes.parent / DEFAULT_NAME

    def load_routes(self) -> Config:
        if self.routes_config is None:
            from facade.config import load

            self.routes_config = load(self.routes)
        return self.routes_config

    def manifest(self, directory: Path) -> Manifest:
        if directory not in self.manifests:
            from regress.corpus import load_manifest

            self.manifests[directory] = load_manifest(directory)
        return self.manifests[directory]

    def modes(self) -> dict[str, ModeOverride]:
        from regress.stack import parse_modes

        try:
            return parse_modes(self.config.getoption("strangler_mode"))
        except ValueError as exc:
            raise pytest.UsageError(f"--strangler-mode {exc}") from None

    def start(
        self,
        *,
        modes: Mapping[str, ModeOverride] | None = None,
        routes: Path | None = None,
        stack_file: Path | None = None,
    ) -> Stack:
        from regress import stackfile
        from regress.stack import Stack

        # pytest's own temporary directories: kept for the last runs, logs and all
        factory: pytest.TempPathFactory = self.config._tmp_path_factory  # type: ignore[attr-defined]
        state = factory.mktemp("strangler-stack", numbered=True)
        spec = stackfile.load(stack_file or self.stack_file)
        stack = Stack(routes or self.routes, spec, state_dir=state, modes=modes)
        self.stacks.append(stack)
        return stack.start()

    def session_stack(self) -> Stack:
        if self.stack is None:
            self.stack = self.start(modes=self.modes())
        return self.stack

    def base_url(self) -> str:
        given: str | None = self.config.getoption("strangler_base_url")
        return given.rstrip("/") if given else self.session_stack().url

    def stop(self) -> None:
        while self.stacks:
            self.stacks.pop().stop()


_SESSION = pytest.StashKey[_Session]()


def _ini_path(config: pytest.Config, name: str, default: str) -> Path:
    value = config.getini(name) or default
    path = Path(str(value))
    return path if path.is_absolute() else config.rootpath / path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "strangler_golden: one recorded exchange of a golden corpus")
    config.stash[_SESSION] = _Session(config)
    config.add_cleanup(config.stash[_SESSION].stop)


# fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def strangler_stack(pytestconfig: pytest.Config) -> Stack:
    """The session's stack from routes.yaml and the stack file, ``--strangler-mode`` applied.
    Tests that change its modes (``set_modes``) should put them back."""
    return pytestconfig.stash[_SESSION].session_stack()


@pytest.fixture(scope="session")
def strangler_stack_factory(pytestconfig: pytest.Config) -> Iterator[Callable[..., Stack]]:
    """``start(modes={"product-catalog": "extracted"}, routes=PATH, stack_file=PATH)``: a
    stack of its own, stopped at the end of the session."""
    from regress.stack import as_overrides

    session = pytestconfig.stash[_SESSION]
    started: list[Stack] = []

    def start(
        *,
        modes: Mapping[str, str | ModeOverride] | None = None,
        routes: Path | None = None,
        stack_file: Path | None = None,
    ) -> Stack:
        try:
            overrides = as_overrides(modes or {})
        except ValueError as exc:
            raise pytest.UsageError(f"strangler_stack_factory: {exc}") from None
        stack = session.start(modes=overrides, routes=routes, stack_file=stack_file)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()


@dataclass
class Golden:
    """The golden corpus under ``directory`` against the session's routes.yaml."""

    session: _Session = field(repr=False)
    directory: Path

    def cases(self, capability: str | None = None) -> list[Case]:
        from regress.corpus import load_cases

        config = self.session.load_routes()
        return [
            c
            for c in load_cases(self.directory, config, capability=capability)
            if c.skip_reason is None
        ]

    def expected(self, case: Case) -> GoldenAnswer:
        from regress.check import GoldenAnswer, recorded_answer

        assert case.exchange is not None
        return GoldenAnswer(recorded_answer(case.exchange), self._rules(case), case.id)

    def answer(self, case: Case, base_url: str) -> GoldenAnswer:
        from regress.check import ROUTE_HEADER, GoldenAnswer, fetch

        assert case.exchange is not None
        got = fetch(base_url, case.exchange)
        return GoldenAnswer(got, self._rules(case), case.id, got.header(ROUTE_HEADER))

    def check(self, base_url: str, capability: str | None = None) -> list[Verdict]:
        from regress.check import check

        return [check(case, base_url, self._rules(case)) for case in self.cases(capability)]

    def assert_passes(self, base_url: str, capability: str | None = None) -> list[Verdict]:
        """Every case of the corpus (or of one capability) answered as recorded."""
        from regress.check import explain

        verdicts = self.check(base_url, capability)
        failed = [v for v in verdicts if not v.passed]
        if failed:
            text = "\n".join(explain(v) for v in failed)
            raise AssertionError(f"{len(failed)} of {len(verdicts)} golden cases differ:\n{text}")
        return verdicts

    def _rules(self, case: Case) -> Any:
        from regress.check import rules_for

        return rules_for(
            self.session.load_routes(), case.capability, self.session.manifest(self.directory)
        )


@pytest.fixture(scope="session")
def strangler_golden(pytestconfig: pytest.Config) -> Golden:
    """The first ``strangler_corpus`` directory as a ``Golden``: cases, answers, checks."""
    directories = pytestconfig.getini("strangler_corpus")
    if not directories:
        raise pytest.UsageError("strangler_golden needs the ini option strangler_corpus")
    return Golden(pytestconfig.stash[_SESSION], Path(directories[0]))


# golden items --------------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    from regress.corpus import SUFFIXES

    if file_path.suffix not in SUFFIXES:
        return None
    corpus = _corpus_of(parent.config, file_path)
    if corpus is None:
        return None
    return GoldenFile.from_parent(parent, path=file_path, corpus=corpus)


def _corpus_of(config: pytest.Config, path: Path) -> Path | None:
    for directory in config.getini("strangler_corpus"):
        if path.is_relative_to(directory):
            return Path(directory)
    return None


class GoldenFile(pytest.File):
    def __init__(self, *, corpus: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.corpus = corpus

    def collect(self) -> Iterator[GoldenItem]:
        from regress.corpus import read_cases

        session = self.config.stash[_SESSION]
        cases = read_cases(self.path, session.load_routes())
        session.cases[self.path] = cases
        for case in cases:
            yield GoldenItem.from_parent(self, name=case.id, case=case)


class GoldenMismatch(AssertionError):
    """A golden case answered otherwise than recorded; the message lists the paths."""


class GoldenItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.add_marker(pytest.mark.strangler_golden)

    def runtest(self) -> None:
        from regress.check import ROUTE_HEADER, GoldenAnswer, fetch, recorded_answer, rerecord

        session = self.config.stash[_SESSION]
        parent = self.parent
        assert isinstance(parent, GoldenFile)
        rules = Golden(session, parent.corpus)._rules
        if self.config.getoption("strangler_update_golden"):
            if self.case.exchange is None:
                pytest.skip(f"cannot re-record: {self.case.skip_reason}")
            stack = session.session_stack()
            result = rerecord(
                self.case,
                stack.monolith_url,
                config=session.load_routes(),
                rules=lambda capability: rules(self.case),
            )
            session.rerecorded.setdefault(self.path, {})[self.case.index] = result
            return
        if self.case.skip_reason is not None:
            pytest.skip(self.case.skip_reason)
        assert self.case.exchange is not None
        expected = GoldenAnswer(recorded_answer(self.case.exchange), rules(self.case), self.case.id)
        got = fetch(session.base_url(), self.case.exchange)
        actual = GoldenAnswer(got, expected.rules, self.case.id, got.header(ROUTE_HEADER))
        if actual != expected:
            lines = self.config.hook.pytest_assertrepr_compare(
                config=self.config, op="==", left=actual, right=expected
            )
            text = "\n".join(next((found for found in lines if found), []))
            raise GoldenMismatch(text)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, GoldenMismatch):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"golden: {self.name}"


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    from regress.check import GoldenAnswer, assertrepr

    if op == "==" and isinstance(left, GoldenAnswer) and isinstance(right, GoldenAnswer):
        return assertrepr(left, right)
    return None


# re-recording: files written once the session ran ---------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash[_SESSION]
    if not state.rerecorded:
        return
    from regress.check import summarize
    from regress.corpus import write_recording

    results: list[Rerecorded] = []
    noise_by_corpus: dict[Path, dict[str, set[str]]] = {}
    kept: list[str] = []
    for path, done in state.rerecorded.items():
        unreadable = [c for c in state.cases.get(path, []) if c.exchange is None]
        if unreadable:
            # rewriting would drop entries this reader cannot hold: the file stays as it was
            kept.append(f"{path.name}: not rewritten, {len(unreadable)} entries cannot be read")
            continue
        exchanges = []
        for case in state.cases.get(path, []):
            if case.index in done:
                exchanges.append(done[case.index].exchange)
                results.append(done[case.index])
            elif case.exchange is not None and case.exchange.response is not None:
                exchanges.append(case.exchange)  # deselected: kept as it was
        write_recording(path, exchanges)
        corpus = _corpus_of(session.config, path)
        assert corpus is not None
        noise = noise_by_corpus.setdefault(corpus, {})
        for result in done.values():
            noise.setdefault(result.case.capability, set()).update(result.noise)
    for corpus, learned in noise_by_corpus.items():
        manifest = state.manifest(corpus)
        for capability, paths in learned.items():
            if paths:
                manifest.noise[capability] = sorted(paths)
            else:
                manifest.noise.pop(capability, None)
        manifest.save()
    state.summary = ["golden corpus re-recorded from the monolith:", *summarize(results), *kept]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    state = terminalreporter.config.stash[_SESSION]
    for line in state.summary:
        terminalreporter.write_line(line)
