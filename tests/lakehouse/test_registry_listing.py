"""Listing versions in a few registry queries gives exactly what reading them one by one gives."""

from __future__ import annotations

from tests.conftest import Seeded, context_for, train_loan_model


def _second_version(seeded: Seeded) -> None:
    train_loan_model(context_for(seeded.home), seeded.dataset)


def test_versions_in_bulk_equal_versions_read_one_by_one(seeded: Seeded) -> None:
    _second_version(seeded)
    registry = context_for(seeded.home).registry
    model = "loan_default"
    registry.set_alias(model, "challenger", "2")  # aliases on two different versions

    listed = registry.versions(model)

    assert [v.version for v in listed] == [str(n) for n in range(1, len(listed) + 1)]
    assert len(listed) >= 2
    assert listed == [registry.version(model, v.version) for v in listed]
    assert {alias for v in listed for alias in v.aliases} == {"champion", "challenger"}
    assert all(v.metrics and v.params for v in listed)  # each run's figures came along


def test_version_counts_cover_every_model(seeded: Seeded) -> None:
    _second_version(seeded)
    registry = context_for(seeded.home).registry

    counts = registry.version_counts()

    assert counts == {m.name: len(registry.versions(m.name)) for m in registry.models()}
    assert sum(counts.values()) >= 2
