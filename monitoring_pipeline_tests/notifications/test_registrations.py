"""Registrations as configuration: the shipped files load, and every mistake is refused by file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitoring_pipeline.fakes.dnb_emulator.demo import DEMO_REFERENCES
from monitoring_pipeline.notifications.registrations import (
    RegistrationConfig,
    RegistrationConfigError,
    load_registrations,
)

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """
reference: REG_A
productId: cmpelk
portfolio: ["001017545", "213310873"]
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "registrations"
    directory.mkdir()
    return directory


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def refusal(directory: Path) -> RegistrationConfigError:
    with pytest.raises(RegistrationConfigError) as caught:
        load_registrations(directory)
    return caught.value


# -- what loads ------------------------------------------------------------------------------------


def test_shipped_registrations_load_and_match_the_emulator_demo():
    configs = load_registrations(REPO / "config" / "registrations")

    assert [c.reference for c in configs] == sorted(DEMO_REFERENCES)
    for config in configs:
        assert 5 <= len(config.portfolio) <= 8
        assert config.pulls
        assert config.source_file.name == f"{config.reference.lower()}.yaml"
    finance = next(c for c in configs if c.reference == "DEMO_FINANCE")
    assert finance.data_blocks and finance.product_id is None
    assert "006999486" in finance.portfolio  # from the CSV, leading zeros kept


def test_the_commented_example_loads_and_uses_every_field():
    example_dir = REPO / "config" / "registrations.example"
    (config,) = load_registrations(example_dir)

    text = (example_dir / "example.yaml").read_text()
    for name, field in RegistrationConfig.model_fields.items():
        if name != "source_file":
            assert f"{field.alias}:" in text, f"the example does not mention {field.alias}"
    assert config.portfolio == ("001017545", "060704780", "213310873")


def test_inline_portfolio_defaults_and_attributes(config_dir):
    write(config_dir, "a.yaml", MINIMAL)

    (config,) = load_registrations(config_dir)

    assert config.reference == "REG_A"
    assert config.portfolio == ("001017545", "213310873")
    assert (config.notification_type, config.delivery_trigger, config.batch_threshold) == ("UPDATE", "API_PULL", 10)
    assert not config.seed_data and not config.unsuppress_after_seed and not config.apply_transfers
    assert config.source_file == config_dir / "a.yaml"


def test_csv_and_txt_portfolios_load_sorted(config_dir):
    write(
        config_dir,
        "portfolios/p.csv",
        """
        name,duns
        Example Ltd,213310873

        Other GmbH, 001017545
        """,
    )
    write(config_dir, "portfolios/p.txt", "# suppliers\n060704780  # Example\n\n001017545\n")
    write(config_dir, "csv.yaml", "reference: REG_CSV\nproductId: cmpelk\nportfolio: {file: portfolios/p.csv}\n")
    write(config_dir, "txt.yaml", "reference: REG_TXT\nproductId: cmpelk\nportfolio: {file: portfolios/p.txt}\n")

    by_reference = {c.reference: c for c in load_registrations(config_dir)}

    assert by_reference["REG_CSV"].portfolio == ("001017545", "213310873")
    assert by_reference["REG_TXT"].portfolio == ("001017545", "060704780")


def test_a_registrations_list_in_one_file_and_other_triggers(config_dir):
    write(
        config_dir,
        "many.yaml",
        """
        registrations:
          - {reference: REG_B, productId: cmpelk}
          - {reference: REG_A, dataBlocks: [companyinfo_L2_v1], deliveryTrigger: WEBHOOK}
        """,
    )

    first, second = load_registrations(config_dir)

    assert (first.reference, second.reference) == ("REG_A", "REG_B")
    assert first.data_blocks == ("companyinfo_L2_v1",) and not first.pulls
    assert second.pulls and second.portfolio == ()


def test_an_empty_directory_has_no_registrations(config_dir):
    assert load_registrations(config_dir) == []


# -- what is refused ---------------------------------------------------------------------------------


def test_a_missing_directory_is_named(tmp_path):
    error = refusal(tmp_path / "nowhere")
    assert "nowhere" in str(error) and "does not exist" in str(error)


def test_unknown_keys_are_named_with_the_closest_known_key(config_dir):
    write(config_dir, "a.yaml", MINIMAL + "prodcutId: cmpelk\nbatch_threshold: 5\n")

    error = refusal(config_dir)

    assert error.file == config_dir / "a.yaml"
    assert error.field == "prodcutId, batch_threshold"
    assert "'prodcutId' (did you mean 'productId'?)" in str(error)
    assert "'batch_threshold' (did you mean 'batchThreshold'?)" in str(error)


def test_a_missing_reference(config_dir):
    write(config_dir, "a.yaml", "productId: cmpelk\n")
    error = refusal(config_dir)
    assert str(error).endswith("a.yaml: reference: expected a value (this key is required), got nothing")


@pytest.mark.parametrize("reference", ["../etc", "a/b", "a\\\\b", "..", "REG..X", ".hidden", "x" * 65])
def test_unsafe_references(config_dir, reference):
    write(config_dir, "a.yaml", f'reference: "{reference}"\nproductId: cmpelk\n')
    error = refusal(config_dir)
    assert error.field == "reference"
    assert "expected a registration reference of 1-64 letters" in str(error)


def test_a_duplicate_reference_names_both_files(config_dir):
    write(config_dir, "a.yaml", MINIMAL)
    write(config_dir, "b.yaml", "reference: REG_A\nproductId: cmpelk\n")

    error = refusal(config_dir)

    assert error.file == config_dir / "b.yaml" and error.field == "reference"
    assert "a.yaml" in error.expected and "'REG_A'" in str(error)


def test_a_bad_inline_duns_is_named_by_position(config_dir):
    write(config_dir, "x.yaml", 'reference: REG_A\nproductId: cmpelk\nportfolio: ["001017545", "213310873", "12345"]\n')

    error = refusal(config_dir)

    assert str(error) == (
        f"{config_dir / 'x.yaml'}: portfolio[2]: expected a DUNS of exactly 9 digits (leading zeros kept), got '12345'"
    )
    assert (error.file, error.field) == (config_dir / "x.yaml", "portfolio[2]")
    assert error.expected == "a DUNS of exactly 9 digits (leading zeros kept)"


def test_an_unquoted_duns_that_yaml_read_as_a_number_says_to_quote_it(config_dir):
    write(config_dir, "x.yaml", "reference: REG_A\nproductId: cmpelk\nportfolio:\n  - 001017545\n")

    error = refusal(config_dir)

    assert error.field == "portfolio[0]"
    assert "in quotes, e.g. '001017545'" in str(error)
    assert "got 001017545 unquoted, which YAML reads as the number 270181" in str(error)  # octal!

    write(config_dir, "x.yaml", 'reference: REG_A\nproductId: cmpelk\nportfolio: ["001017545", 213310873]\n')
    error = refusal(config_dir)
    assert error.field == "portfolio[1]"
    assert str(error).endswith("in quotes, e.g. '213310873', got 213310873")


def test_a_bad_duns_in_a_csv_file_is_named_by_line(config_dir):
    csv_file = write(config_dir, "portfolios/p.csv", "duns,name\n001017545,A\n60704780,B\n")
    write(config_dir, "x.yaml", "reference: REG_A\nproductId: cmpelk\nportfolio: {file: portfolios/p.csv}\n")

    error = refusal(config_dir)

    assert error.file == csv_file
    assert "p.csv: line 3, column 'duns': expected a DUNS of exactly 9 digits" in str(error)
    assert "got '60704780' (leading zeros lost? '060704780' has 9 digits)" in str(error)


def test_a_bad_duns_in_a_txt_file_is_named_by_line(config_dir):
    write(config_dir, "portfolios/p.txt", "# header\n001017545\n\n00101754X\n")
    write(config_dir, "x.yaml", "reference: REG_A\nproductId: cmpelk\nportfolio: {file: portfolios/p.txt}\n")
    assert "p.txt: line 4: expected a DUNS" in str(refusal(config_dir))


def test_a_csv_without_the_column_lists_the_header(config_dir):
    write(config_dir, "portfolios/p.csv", "id,name\n001017545,A\n")
    write(config_dir, "x.yaml", "reference: REG_A\nproductId: cmpelk\nportfolio: {file: portfolios/p.csv}\n")
    error = refusal(config_dir)
    assert "line 1: expected a header row with a 'duns' column, got 'id', 'name'" in str(error)


def test_duplicated_duns_are_refused_naming_the_duns(config_dir):
    write(
        config_dir,
        "x.yaml",
        'reference: REG_A\nproductId: cmpelk\nportfolio: ["001017545", "213310873", "001017545"]\n',
    )
    error = refusal(config_dir)
    assert str(error).endswith(
        "x.yaml: portfolio[2]: expected each DUNS once in a portfolio (first listed at portfolio[0]), "
        "got '001017545' again"
    )

    write(config_dir, "portfolios/p.txt", "001017545\n213310873\n001017545\n")
    write(config_dir, "x.yaml", "reference: REG_A\nproductId: cmpelk\nportfolio: {file: portfolios/p.txt}\n")
    assert "line 3: expected each DUNS once in a portfolio (first listed at line 1)" in str(refusal(config_dir))


@pytest.mark.parametrize(
    ("portfolio", "expected"),
    [
        ("{file: portfolios/missing.csv}", "expected an existing file"),
        ("{file: ../outside.txt}", "expected a file inside the config directory"),
        ("{file: /etc/passwd}", "expected a file inside the config directory"),
        ("{file: portfolios/p.json}", "expected a .csv or .txt file"),
        ("{path: portfolios/p.csv}", "portfolio.path: expected only 'file' and 'column'"),
        ("{file: portfolios/p.txt, column: duns}", "portfolio.column: expected no column for a .txt file"),
        ("001017545", "portfolio: expected a list of DUNS or a file reference"),
    ],
)
def test_bad_portfolio_files(config_dir, portfolio, expected):
    (config_dir.parent / "outside.txt").write_text("001017545\n")
    write(config_dir, "portfolios/p.txt", "001017545\n")
    write(config_dir, "portfolios/p.json", "[]\n")
    write(config_dir, "x.yaml", f"reference: REG_A\nproductId: cmpelk\nportfolio: {portfolio}\n")

    error = refusal(config_dir)

    assert error.file == config_dir / "x.yaml"
    assert expected in str(error)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("", "productId/dataBlocks: expected exactly one of productId or dataBlocks, got neither"),
        ("productId: cmpelk\ndataBlocks: [companyinfo_L2_v1]\n", "got both"),
        ("dataBlocks: []\n", "dataBlocks: expected a non-empty list, got a list"),
        ("dataBlocks: companyinfo_L2_v1\n", "dataBlocks: expected a list, got 'companyinfo_L2_v1'"),
    ],
)
def test_exactly_one_of_product_and_data_blocks(config_dir, extra, message):
    write(config_dir, "x.yaml", "reference: REG_A\n" + extra)
    assert message in str(refusal(config_dir))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("seedData: 'yes'", "seedData: expected true or false, got 'yes'"),
        ("batchThreshold: ten", "batchThreshold: expected an integer, got 'ten'"),
        ("batchThreshold: 0", "batchThreshold: expected an integer of at least 1, got 0"),
        ("description: 2024", "description: expected a string (quote it: '2024'), got 2024"),
        ("deliveryTrigger: api pull", "deliveryTrigger: expected an UPPER_CASE code"),
        ("jsonPathInclusion: [organization.primaryName, 3]", "jsonPathInclusion[1]: expected a string"),
        ("unsuppressAfterSeed: 1", "unsuppressAfterSeed: expected true or false"),
    ],
)
def test_wrong_types_name_the_field(config_dir, line, message):
    write(config_dir, "x.yaml", f"reference: REG_A\nproductId: cmpelk\n{line}\n")
    error = refusal(config_dir)
    assert message in str(error)
    assert error.file == config_dir / "x.yaml"


def test_errors_inside_a_registrations_list_name_the_item(config_dir):
    write(
        config_dir,
        "many.yaml",
        """
        registrations:
          - {reference: REG_A, productId: cmpelk}
          - {reference: REG_B, productId: cmpelk, portfolio: ["1234"]}
        """,
    )
    assert "many.yaml: registrations[1].portfolio[0]: expected a DUNS" in str(refusal(config_dir))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping of registration fields"),
        ("- reference: REG_A\n", "expected a mapping of registration fields (reference, productId, ...), got a list"),
        ("reference: [unclosed\n", "expected valid YAML"),
        ("registrations: {reference: REG_A}\n", "registrations: expected a list of registrations"),
    ],
)
def test_malformed_files(config_dir, text, message):
    write(config_dir, "x.yaml", text)
    assert message in str(refusal(config_dir))


def test_a_config_built_in_python_is_normalised(tmp_path):
    config = RegistrationConfig(
        reference="REG_A", product_id="cmpelk", portfolio=("213310873", "001017545"), source_file=tmp_path / "a.yaml"
    )
    assert config.portfolio == ("001017545", "213310873")
