"""Generate Sysmon process-creation events (EventID 1) as Parquet and/or NDJSON.

Benign events come from a pool of everyday Windows processes with varying command lines, users,
hosts and times. One event in `--match-every` (default 10,000) is instead a copy of a real
process-creation event from SigmaHQ's regression data (../shared/regression), which the SigmaHQ
rules are known to match: matches stay rare, as in real logs.

    python benchmarks/generate_events.py --events 1000000 --out /tmp/rulec-bench/1m
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

SHARED = Path(__file__).resolve().parents[2] / "shared"

# (image, original file name, description, command-line tail, parent image)
PROCESSES = [
    (
        "C:\\Windows\\System32\\svchost.exe",
        "svchost.exe",
        "Host Process for Windows Services",
        "-k netsvcs -p -s Schedule",
        "C:\\Windows\\System32\\services.exe",
    ),
    (
        "C:\\Windows\\System32\\conhost.exe",
        "CONHOST.EXE",
        "Console Window Host",
        "0xffffffff -ForceV1",
        "C:\\Windows\\System32\\cmd.exe",
    ),
    (
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "chrome.exe",
        "Google Chrome",
        "--type=renderer --lang=en-US --renderer-client-id=7",
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
        "Outlook.exe",
        "Microsoft Outlook",
        "/recycle",
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Windows\\System32\\taskhostw.exe",
        "taskhostw.exe",
        "Host Process for Windows Tasks",
        "Install $(Arg0)",
        "C:\\Windows\\System32\\svchost.exe",
    ),
    (
        "C:\\Windows\\System32\\backgroundTaskHost.exe",
        "backgroundTaskHost.exe",
        "Background Task Host",
        "-ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca",
        "C:\\Windows\\System32\\svchost.exe",
    ),
    (
        "C:\\Windows\\System32\\SearchProtocolHost.exe",
        "searchprotocolhost.exe",
        "Microsoft Windows Search Protocol Host",
        "Global\\UsGthrFltPipeMssGthrPipe12",
        "C:\\Windows\\System32\\SearchIndexer.exe",
    ),
    (
        "C:\\Program Files\\Microsoft VS Code\\Code.exe",
        "electron.exe",
        "Visual Studio Code",
        "--type=utility --utility-sub-type=node.mojom.NodeService",
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "PowerShell.EXE",
        "Windows PowerShell",
        "-NoProfile -Command Get-ChildItem C:\\Users\\Public",
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Windows\\System32\\cmd.exe",
        "Cmd.Exe",
        "Windows Command Processor",
        "/c dir C:\\Temp",
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Windows\\System32\\RuntimeBroker.exe",
        "RuntimeBroker.exe",
        "Runtime Broker",
        "-Embedding",
        "C:\\Windows\\System32\\svchost.exe",
    ),
    (
        "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe",
        "OneDrive.exe",
        "Microsoft OneDrive",
        "/background",
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Windows\\System32\\MsMpEng.exe",
        "MsMpEng.exe",
        "Antimalware Service Executable",
        "",
        "C:\\Windows\\System32\\services.exe",
    ),
    (
        "C:\\Windows\\System32\\dllhost.exe",
        "dllhost.exe",
        "COM Surrogate",
        "/Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",
        "C:\\Windows\\System32\\svchost.exe",
    ),
    (
        "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
        "Wmiprvse.exe",
        "WMI Provider Host",
        "-secured -Embedding",
        "C:\\Windows\\System32\\svchost.exe",
    ),
    (
        "C:\\Program Files\\Git\\cmd\\git.exe",
        "git.exe",
        "Git for Windows",
        "fetch --all --prune",
        "C:\\Program Files\\Microsoft VS Code\\Code.exe",
    ),
]


def sql_list(values: list[str]) -> str:
    """A SQL list literal of strings."""
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def benign_sql(count: int) -> str:
    """A SELECT producing `count` benign events, numbered by `i`."""
    images, originals, descriptions, tails, parents = (
        sql_list([p[k] for p in PROCESSES]) for k in range(5)
    )
    pick = f"CAST(1 + hash(i) % {len(PROCESSES)} AS BIGINT)"
    return f"""
    SELECT i,
      1 AS EventID,
      'Microsoft-Windows-Sysmon/Operational' AS Channel,
      'WS' || lpad(CAST(CAST(hash(i, 1) % 500 AS BIGINT) AS VARCHAR), 4, '0')
        || '.corp.example.com' AS Computer,
      'Microsoft-Windows-Sysmon' AS Provider_Name,
      strftime(TIMESTAMP '2026-01-05 00:00:00' + to_milliseconds(i * 40),
               '%Y-%m-%dT%H:%M:%S.%fZ') AS TimeCreated,
      i + 1000000 AS EventRecordID,
      '-' AS RuleName,
      '{{' || upper(md5(CAST(i AS VARCHAR))[1:8]) || '-5D9C-6929-4111-000000000D00}}'
        AS ProcessGuid,
      100 + CAST(hash(i, 2) % 20000 AS BIGINT) AS ProcessId,
      {images}[{pick}] AS Image,
      {originals}[{pick}] AS OriginalFileName,
      {descriptions}[{pick}] AS Description,
      'Microsoft Corporation' AS Company,
      '"' || {images}[{pick}] || '" ' || {tails}[{pick}]
        || ' --session ' || CAST(CAST(hash(i, 3) % 100000 AS BIGINT) AS VARCHAR) AS CommandLine,
      'C:\\Windows\\system32\\' AS CurrentDirectory,
      'CORP\\user' || CAST(CAST(hash(i, 4) % 2000 AS BIGINT) AS VARCHAR) AS User,
      '0x' || printf('%x', CAST(hash(i, 5) % 16777216 AS BIGINT)) AS LogonId,
      CAST(CAST(hash(i, 6) % 3 AS BIGINT) AS VARCHAR) AS TerminalSessionId,
      'Medium' AS IntegrityLevel,
      'MD5=' || upper(md5(CAST(hash(i) % 5000 AS VARCHAR))) AS Hashes,
      {parents}[{pick}] AS ParentImage,
      '"' || {parents}[{pick}] || '"' AS ParentCommandLine,
      'CORP\\user' || CAST(CAST(hash(i, 4) % 2000 AS BIGINT) AS VARCHAR) AS ParentUser
    FROM range({count}) AS r(i)
    """


def generate(count: int, out: Path, every: int, formats: list[str]) -> dict[str, Path]:
    """Write `count` events to `out`.parquet / `out`.ndjson; returns the written files."""
    connection = duckdb.connect()
    connection.execute(f"CREATE TABLE benign AS {benign_sql(count)}")
    columns = [d[0] for d in connection.execute("SELECT * FROM benign LIMIT 0").description]
    fields = [c for c in columns if c != "i"]
    flat = sorted((SHARED / "regression" / "flat").glob("*.ndjson"))
    malicious = [
        json.loads(line)
        for path in flat
        for line in path.read_text().splitlines()
        if line.strip() and '"CommandLine"' in line
    ]
    connection.execute(
        "CREATE TABLE bad (k BIGINT, " + ", ".join(f'"{f}" VARCHAR' for f in fields) + ")"
    )
    connection.executemany(
        "INSERT INTO bad VALUES (" + ", ".join(["?"] * (len(fields) + 1)) + ")",
        [
            [k, *(None if e.get(f) is None else str(e.get(f)) for f in fields)]
            for k, e in enumerate(malicious)
        ],
    )
    choose = ", ".join(
        f'CASE WHEN bad.k IS NULL THEN CAST(benign."{f}" AS VARCHAR) ELSE bad."{f}" END AS "{f}"'
        for f in fields
    )
    events = (
        f"SELECT {choose} FROM benign LEFT JOIN bad ON benign.i % {every} = {every // 2} "
        f"AND bad.k = (benign.i // {every}) % {len(malicious)} ORDER BY benign.i"
    )
    written = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    for kind in formats:
        path = out.with_suffix(".parquet" if kind == "parquet" else ".ndjson")
        option = "FORMAT PARQUET" if kind == "parquet" else "FORMAT JSON"
        connection.execute(f"COPY ({events}) TO '{path}' ({option})")
        written[kind] = path
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/rulec-bench/events"))
    parser.add_argument("--match-every", type=int, default=10_000)
    parser.add_argument("--format", action="append", choices=["parquet", "ndjson"])
    args = parser.parse_args()
    started = time.perf_counter()
    written = generate(args.events, args.out, args.match_every, args.format or ["parquet"])
    elapsed = time.perf_counter() - started
    for kind, path in written.items():
        print(f"{kind}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"{args.events} events in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
