"""The documented table schemas: the loader, and spot checks that catch a wrong extraction."""

from __future__ import annotations

import pytest

from rulec.backends import schemas

FILE_PROFILE = (
    "SHA1", "SHA256", "MD5", "FileSize", "GlobalPrevalence", "GlobalFirstSeen", "GlobalLastSeen",
    "Signer", "Issuer", "SignerHash", "IsCertificateValid", "IsRootSignerMicrosoft",
    "SignatureState", "IsExecutable", "ThreatName", "Publisher", "SoftwareName",
    "ProfileAvailability",
)  # fmt: skip


@pytest.mark.parametrize(
    ("table", "product", "leading_columns"),
    [
        ("DeviceImageLoadEvents", None, ("Timestamp", "DeviceId", "DeviceName", "ActionType",
                                         "FileName", "FolderPath", "SHA1", "SHA256", "MD5")),
        ("DeviceProcessEvents", None, ("Timestamp", "DeviceId", "DeviceName", "ActionType")),
        ("AlertInfo", None, ("Timestamp", "AlertId", "Title", "Category", "Severity")),
        ("FileProfile", None, FILE_PROFILE),
        ("SigninLogs", None, ("AADTenantId", "AlternateSignInName", "AppDisplayName", "AppId")),
        ("DeviceImageLoadEvents", "sentinel", ("ActionType", "AppGuardContainerId")),
        ("AlertInfo", "sentinel", ("AlertId", "AttackTechniques")),
        # Azure-Sentinel's connector schema files (.script/tests/KqlvalidationsTests/CustomTables)
        ("Okta_CL", None, ("TenantId", "SourceSystem", "MG", "ManagementGroupName")),
        ("GitHubAuditLogPolling_CL", None, ("TimeGenerated", "TenantId", "SourceSytem", "MG")),
    ],
)  # fmt: skip
def test_documented_order(table, product, leading_columns):
    columns = schemas.known_columns(table, product)
    assert columns is not None
    assert columns[: len(leading_columns)] == leading_columns


def test_file_profile_is_exactly_the_documented_output():
    assert schemas.known_columns("FileProfile") == FILE_PROFILE


def test_device_image_load_events_column_order():
    columns = schemas.known_columns("DeviceImageLoadEvents")
    wanted = ["Timestamp", "DeviceId", "FolderPath", "SHA1", "InitiatingProcessFileName"]
    positions = [columns.index(name) for name in wanted]
    assert positions == sorted(positions)
    assert columns[-2:] == ("ReportId", "AppGuardContainerId")


@pytest.mark.parametrize(
    ("table", "product", "column", "kql_type"),
    [
        ("SigninLogs", None, "ResultType", "string"),
        ("SigninLogs", None, "TimeGenerated", "datetime"),
        ("SigninLogs", None, "LocationDetails", "dynamic"),
        ("SecurityEvent", None, "EventID", "int"),
        ("SecurityAlert", None, "AlertName", "string"),
        ("AzureDiagnostics", None, "DurationMs", "long"),
        ("DeviceNetworkEvents", None, "RemotePort", "int"),
        ("DeviceFileEvents", None, "FileSize", "long"),
        ("DeviceLogonEvents", None, "IsLocalAdmin", "bool"),
        ("CloudAppEvents", None, "RawEventData", "dynamic"),
        ("FileProfile", None, "GlobalPrevalence", "int"),
        ("DeviceImageLoadEvents", "sentinel", "TimeGenerated", "datetime"),
        ("AgentsInfo", None, "InstanceCount", "int"),
        ("AIAgentsInfo", None, "AIAgentId", "guid"),
        ("DeviceBaselineComplianceAssessment", None, "IsCompliant", "bool"),
        ("CallActivityEvents", None, "ActivityTimestamp", "datetime"),
    ],
)  # fmt: skip
def test_column_types(table, product, column, kql_type):
    assert schemas.known_types(table, product)[column] == kql_type


@pytest.mark.parametrize(
    ("table", "product", "present", "absent"),
    [
        ("DeviceProcessEvents", None, "Timestamp", "TimeGenerated"),
        ("DeviceProcessEvents", "sentinel", "TimeGenerated", "Timestamp"),
        ("DeviceProcessEvents", "defender_xdr", "InitiatingProcessParentFileName", "_BilledSize"),
        ("SigninLogs", "sentinel", "ResultType", "Timestamp"),
    ],
)  # fmt: skip
def test_product_preference(table, product, present, absent):
    columns = schemas.known_columns(table, product)
    assert present in columns
    assert absent not in columns


@pytest.mark.parametrize(
    ("table", "product"),
    [
        ("signinlogs", None),
        ("DEVICEPROCESSEVENTS", None),
        ("NoSuchTable", None),
        ("SigninLogs", "defender_xdr"),
        ("FileProfile", "sentinel"),
    ],
)
def test_unknown_tables(table, product):
    assert schemas.known_columns(table, product) is None
    assert schemas.known_types(table, product) is None


def test_unknown_product_is_an_error():
    with pytest.raises(ValueError, match="unknown schema product 'splunk'"):
        schemas.known_columns("SigninLogs", "splunk")


def test_every_table_is_well_formed():
    kql_types = {"string", "int", "long", "real", "bool", "datetime", "dynamic", "guid", "timespan"}
    for product in schemas.PRODUCTS:
        for table in schemas.known_tables(product):
            types = schemas.known_types(table, product)
            assert types, (product, table)
            assert set(types.values()) <= kql_types, (product, table)
            assert all(name.isidentifier() for name in types), (product, table)


def test_counts():
    # 698 tables of the Azure Monitor reference and 8 of Sentinel data connectors
    assert len(schemas.known_tables("sentinel")) == 706
    assert {"Okta_CL", "GitHubAuditLogPolling_CL"} <= schemas.known_tables("sentinel")
    assert len(schemas.known_tables("defender_xdr")) == 68
    assert {"FileProfile", "DeviceFromIP", "AssignedIPAddresses"} <= schemas.known_tables()


def test_results_are_copies():
    schemas.known_types("AlertInfo")["Title"] = "int"
    assert schemas.known_types("AlertInfo")["Title"] == "string"
