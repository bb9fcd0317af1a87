"""Every published case of each deterministic family agrees with R through the gRPC API.

One test function per family, one pytest item per case (named by its id), judged as
``shared/tools/compare_reference.py`` judges it (``validation.compare``).
"""

from tests.reference.agreement import assert_agrees, cases_of


@cases_of("escalation")
def test_escalation(client, case):
    assert_agrees(client, case)


@cases_of("escalation_dose_paths")
def test_escalation_dose_paths(client, case):
    assert_agrees(client, case)


@cases_of("dfcrm_crm")
def test_dfcrm_crm(client, case):
    assert_agrees(client, case)


@cases_of("dfcrm_titecrm")
def test_dfcrm_titecrm(client, case):
    assert_agrees(client, case)


@cases_of("dfcrm_getprior")
def test_dfcrm_getprior(client, case):
    assert_agrees(client, case)


@cases_of("boin_get_boundary")
def test_boin_get_boundary(client, case):
    assert_agrees(client, case)


@cases_of("boin_select_mtd")
def test_boin_select_mtd(client, case):
    assert_agrees(client, case)


@cases_of("boin_next_comb")
def test_boin_next_comb(client, case):
    assert_agrees(client, case)


@cases_of("boin_select_mtd_comb")
def test_boin_select_mtd_comb(client, case):
    assert_agrees(client, case)


@cases_of("posterior_stopping")
def test_posterior_stopping(client, case):
    assert_agrees(client, case)


@cases_of("posterior_stopping_table")
def test_posterior_stopping_table(client, case):
    assert_agrees(client, case)


@cases_of("tree_stopping")
def test_tree_stopping(client, case):
    assert_agrees(client, case)
