"""`handoff policy test FILE.yaml`: run disclosure questions through the consent policy.

    handoff policy test pipeline/consent/policy-tests.yaml
    handoff policy test site-cases.yaml --policy site/policy.yaml

One line per case (pass/FAIL, the decision, the basis, the reasons); exit 1 when any case
fails, 2 when the file or the policy cannot be read. The policy is the configured one
(consent.policy) unless --policy names another: how a site reviews a change before applying it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from handoff.errors import EXIT_CHECK_FAILED, EXIT_USAGE, CliError

cli = typer.Typer(help="The consent policy: run policy tests.", no_args_is_help=True)


@cli.command("test")
def test_cmd(file: Path = typer.Argument(..., help="policy tests (YAML, see README 'Policy tests')"),
             policy: Optional[Path] = typer.Option(None, "--policy", help="a policy file (default: consent.policy)"),
             quiet: bool = typer.Option(False, "--quiet", "-q",
                                        help="print only failing cases and the summary")) -> None:
    """Run each case through the pure `decide`; exit 1 on any failure."""
    from pipeline.consent.policy import PolicyError, load_policy
    from pipeline.consent.policytest import CaseError, load_cases, run_case

    if policy is None:
        from pipeline.settings import Settings
        policy = Settings().consent.policy
    try:
        loaded = load_policy(policy)
        cases = load_cases(file, loaded)
    except (PolicyError, CaseError) as e:
        raise CliError(str(e), EXIT_USAGE) from None
    results = [run_case(case, loaded) for case in cases]
    for res in results:
        if not (quiet and res.passed):
            typer.echo(res.line())
    failed = sum(not res.passed for res in results)
    typer.echo(f"{len(results) - failed} passed, {failed} failed (policy {loaded.version}, {file.name})")
    if failed:
        raise CliError(f"{failed} of {len(results)} policy tests failed", EXIT_CHECK_FAILED)
