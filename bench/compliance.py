"""Compliance overview benchmark: a city of about 600 units over a year, on PostgreSQL.

    .venv/bin/python -m bench.compliance [--responses 2000000] [--repeat 7] [--keep]

(`make bench-compliance`.) A fresh database (`skm_bench_compliance`, through
SKM_BENCH_POSTGRES_URL) is migrated and filled without HTTP:

* kota (Asia/Makassar) → 3 service malls → 40 agencies each → 4 service units each:
  604 units; mall 2 requires quarterly results, mall 3 half-yearly, the rest yearly;
* the aggregates of N responses in 2026 and 0.9 N in 2025 on the 480 service units
  (log-normal volumes per unit, spread over the months), written straight into
  `monthly_aggregates` as the ingest would have summed them. No response rows are loaded:
  neither side measured here reads them (the overview reads the monthly aggregates, the
  populations, the publications and the plans; an index of whole months reads the monthly
  aggregates). The counters are consistent (each element scored 3 or 4, no blanks);
* populations for 2026 on two units in three, publications of 2026 for half the units,
  follow-up plans for 2026 on a third of the units, five items each in every status.

Then the real service (uvicorn, one worker) answers, as the administrator:

* the overview: `GET /v1/compliance/kota?year=2026&as_of=2027-02-15` (warm-up, then
  `--repeat` timed requests: median and slowest), and its workbook and PDF once each;
* the naive version: the index of each unit one by one (`GET /v1/indices/{code}?period=2026`
  for all 604 units), which gives only the IKM column — the responses per required period,
  populations, publications, plans and the previous year would take more requests still.
"""

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from psycopg.types.json import Jsonb

from app.aggregates import AGGREGATE_COUNTERS
from app.auth import new_token, token_hash
from app.method import ELEMENTS
from bench.harness import ADMIN_URL, BenchError, fresh_database, migrate, serving

YEAR = 2026
AS_OF = "2027-02-15"
NOW = datetime(2027, 1, 5, tzinfo=UTC)


@dataclass
class City:
    url: str
    token: str
    units: list[tuple[int, str]]  # id, code
    responses: int
    seconds: float


def _months(year: int) -> list[date]:
    return [date(year, m, 1) for m in range(1, 13)]


def _counters(rng: random.Random, n: int) -> list[int]:
    """Consistent counters for n complete responses whose scores are 3 or 4."""
    sums, squares = [], []
    for _ in ELEMENTS:
        fours = sum(1 for _ in range(min(n, 50)) if rng.random() < 0.6) * n // max(min(n, 50), 1)
        sums.append(3 * n + fours)
        squares.append(9 * n + 7 * fours)
    total = sum(sums)
    total_sq = math.ceil(total * total / n) + 4 * n
    values = [n, n, total, total_sq]
    for s, q in zip(sums, squares, strict=True):
        values += [n, s, q]
    return values


def load(url: str, responses: int, seed: int) -> City:
    rng = random.Random(seed)
    started = time.monotonic()
    token = new_token()
    units: list[
        tuple[int, str, str, str, int | None, str]
    ] = []  # id, code, name, kind, parent, path
    units.append((1, "kota", "Pemerintah Kota", "government", None, "/1/"))
    next_id = 2
    leaves: list[int] = []
    malls: list[int] = []
    for m in range(1, 4):
        mall = next_id
        next_id += 1
        malls.append(mall)
        units.append(
            (mall, f"mpp-{m}", f"Mal Pelayanan Publik {m}", "service_mall", 1, f"/1/{mall}/")
        )
        for a in range(1, 41):
            agency = next_id
            next_id += 1
            path = f"/1/{mall}/{agency}/"
            units.append((agency, f"dinas-{m}-{a}", f"Dinas {m}.{a}", "agency", mall, path))
            for u in range(1, 5):
                leaf = next_id
                next_id += 1
                code = f"loket-{m}-{a}-{u}"
                units.append(
                    (leaf, code, f"Loket {m}.{a}.{u}", "service_unit", agency, f"{path}{leaf}/")
                )
                leaves.append(leaf)
    weights = [rng.lognormvariate(0, 0.8) for _ in leaves]
    scale = sum(weights)
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute(
            "INSERT INTO api_keys (name, role, read_responses, token_hash, prefix, created_at) "
            "VALUES ('bench admin', 'admin', false, %s, %s, %s)",
            (token_hash(token), token[:10], NOW),
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO units (id, code, name, kind, parent_id, path, time_zone, "
                "time_zone_inherited, public, requires_ticket, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, 'Asia/Makassar', %s, false, false, %s, %s)",
                [(i, c, n, k, p, path, p is not None, NOW, NOW) for i, c, n, k, p, path in units],
            )
            cursor.executemany(
                "INSERT INTO services (id, unit_id, code, name, created_at, updated_at) "
                "VALUES (%s, %s, 'layanan', 'Layanan', %s, %s)",
                [(leaf, leaf, NOW, NOW) for leaf in leaves],
            )
        conn.execute("SELECT setval('units_id_seq', (SELECT max(id) FROM units))")
        conn.execute("SELECT setval('services_id_seq', (SELECT max(id) FROM services))")
        columns = [
            "unit_id",
            "month",
            "service_id",
            "survey_version_id",
            "flagged",
            *AGGREGATE_COUNTERS,
            "updated_at",
        ]
        loaded = 0
        with conn.cursor().copy(
            f"COPY monthly_aggregates ({', '.join(columns)}) FROM STDIN"
        ) as copy:
            for year, volume in ((YEAR, responses), (YEAR - 1, responses * 9 // 10)):
                for leaf, weight in zip(leaves, weights, strict=True):
                    per_month = max(1, round(volume * weight / scale / 12))
                    for month in _months(year):
                        n = max(1, round(per_month * rng.uniform(0.7, 1.3)))
                        loaded += n if year == YEAR else 0
                        copy.write_row((leaf, month, leaf, 1, False, *_counters(rng, n), NOW))
        codes = units
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO populations (unit_id, service_code, period, served, updated_at) "
                "VALUES (%s, '', %s, %s, %s)",
                [(u[0], str(YEAR), rng.randint(500, 60000), NOW) for u in codes if u[0] % 3],
            )
            cursor.executemany(
                "INSERT INTO compliance_settings (unit_id, required_periods, updated_at) "
                "VALUES (%s, %s, %s)",
                [(malls[1], "quarter", NOW), (malls[2], "semester", NOW)],
            )
            plans = [u[0] for u in codes if u[0] % 3 == 0]
            for unit_id in plans:
                cursor.execute(
                    "INSERT INTO followup_plans (unit_id, period, period_start, period_end, "
                    "state, created_at, updated_at) VALUES (%s, %s, %s, %s, 'open', %s, %s) "
                    "RETURNING id",
                    (unit_id, str(YEAR), date(YEAR, 1, 1), date(YEAR, 12, 31), NOW, NOW),
                )
                row = cursor.fetchone()
                assert row is not None
                cursor.executemany(
                    "INSERT INTO followup_items (plan_id, element, action, target_date, status, "
                    "status_reason, evidence_links, proposed, created_at, updated_at) "
                    "VALUES (%s, %s, 'Tindak lanjut', %s, %s, %s, '[]', true, %s, %s)",
                    [
                        (
                            row[0],
                            element,
                            target,
                            status,
                            "anggaran" if status == "dropped" else None,
                            NOW,
                            NOW,
                        )
                        for element, target, status in (
                            ("waktu", date(2027, 1, 31), "planned"),
                            ("sarana", date(2027, 6, 30), "in_progress"),
                            ("prosedur", date(2026, 12, 31), "done"),
                            ("biaya", date(2026, 11, 30), "dropped"),
                            ("pengaduan", date(2027, 3, 31), "planned"),
                        )
                    ],
                )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return City(url, token, [(u[0], u[1]) for u in units], loaded, time.monotonic() - started)


def _publish(client: httpx2.Client, url: str, units: list[tuple[int, str]]) -> None:
    """Record every other unit's year as published (untimed), with the index report it
    would have frozen: the live one, read once through the API (the service refuses to
    publish a period that has not ended by its own clock, and the bench's year is the
    current one)."""
    with psycopg.connect(url) as conn:
        for unit_id, code in units:
            if not unit_id % 2:
                continue
            _, answer = timed(client, f"/v1/indices/{code}", {"period": str(YEAR)})
            report = {"index": answer.json(), "breakdowns": {}, "public": None}
            conn.execute(
                "INSERT INTO publications (unit_id, period, period_start, period_end, "
                "revision, published_at, public, method_id, responses, fingerprint, report) "
                "VALUES (%s, %s, %s, %s, 1, %s, false, 'permenpan-rb-14-2017', %s, %s, %s)",
                (
                    unit_id,
                    str(YEAR),
                    date(YEAR, 1, 1),
                    date(YEAR + 1, 1, 1),
                    NOW,
                    answer.json()["pooled"]["responses"],
                    "0" * 64,
                    Jsonb(report),
                ),
            )
        conn.commit()


def timed(
    client: httpx2.Client, path: str, params: dict[str, Any] | None = None
) -> tuple[float, httpx2.Response]:
    started = time.perf_counter()
    answer = client.get(path, params=params)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise BenchError(f"{path}: {answer.status_code} {answer.text[:300]}")
    return seconds, answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="leave the database in place")
    args = parser.parse_args(argv)
    name = "skm_bench_compliance"
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        url = fresh_database("postgresql", name, directory)
        migrate(url)
        city = load(
            url.replace("postgresql+psycopg://", "postgresql://"), args.responses, args.seed
        )
        print(
            f"city: {len(city.units)} units, {city.responses:,} responses in {YEAR} "
            f"(aggregates loaded in {city.seconds:.1f} s)"
        )
        try:
            with (
                serving(url, directory) as service,
                httpx2.Client(
                    base_url=service.base_url,
                    headers={"Authorization": f"Bearer {city.token}"},
                    timeout=120.0,
                ) as client,
            ):
                _publish(client, city.url, city.units)
                params = {"year": YEAR, "as_of": AS_OF}
                samples = []
                cpu = 0.0
                for round_ in range(args.warmup + args.repeat):
                    if round_ == args.warmup:
                        cpu = service.cpu()
                    seconds, answer = timed(client, "/v1/compliance/kota", params)
                    if round_ >= args.warmup:
                        samples.append(seconds)
                cpu = (service.cpu() - cpu) / args.repeat
                body = answer.json()
                print(
                    f"overview JSON: {len(body['rows'])} rows, {len(answer.content) / 1e6:.2f} MB; "
                    f"median {1000 * statistics.median(samples):.0f} ms, slowest "
                    f"{1000 * max(samples):.0f} ms over {args.repeat} requests "
                    f"(target ≤ 1000 ms: {'met' if max(samples) <= 1 else 'NOT met'}); "
                    f"service CPU {1000 * cpu:.0f} ms per request; load average "
                    f"{Path('/proc/loadavg').read_text().split()[0]}"
                )
                print(f"summary: {body['summary']}")
                for kind in ("xlsx", "pdf"):
                    seconds, answer = timed(client, f"/v1/compliance/kota/overview.{kind}", params)
                    size = len(answer.content) / 1e3
                    print(f"overview {kind.upper()}: {1000 * seconds:.0f} ms, {size:.0f} kB")
                started = time.perf_counter()
                cpu = service.cpu()
                for _, code in city.units:
                    timed(client, f"/v1/indices/{code}", {"period": str(YEAR)})
                naive = time.perf_counter() - started
                naive_cpu = service.cpu() - cpu
                print(
                    f"naive, the index of each unit one by one ({len(city.units)} requests, the "
                    f"IKM column only): {naive:.2f} s = "
                    f"{naive / statistics.median(samples):.0f}× the overview's median "
                    f"(service CPU {naive_cpu:.2f} s)"
                )
        finally:
            if not args.keep:
                with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
