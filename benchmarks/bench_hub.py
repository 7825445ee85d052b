"""Knowledge-base benchmark, same run, on SQLite (and PostgreSQL when reachable):

- registrations per second through the Hub (token check, validation, entry + tags + readers,
  audit row, durable commit) against bare SQLAlchemy inserts of the same rows in one
  transaction each (the baseline: what the safety costs);
- search latency over the registered entries;
- lake put/get of a 100k-row table (Parquet bytes, SHA-256, atomic move; checksum on read)
  against pyarrow writing/reading the same Parquet file directly.

    python benchmarks/bench_hub.py [--entries 2000] [--pg postgresql://postgres@127.0.0.1/postgres]
"""

import argparse
import functools
import io
import secrets
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from secured.data import load
from secured.hub import Hub
from secured.hub.db import make_engine

print = functools.partial(print, flush=True)  # noqa: A001
SCHEMA = [{"name": f"c{i}", "type": "int64"} for i in range(20)]


def bench_engine(label: str, url: str, lake: str, n: int) -> None:
    hub, admin = Hub.init(url, lake)
    hub.add_member(admin, "producer-1", "producer")
    token = hub.create_token(admin, "producer-1", ["read", "write"])
    start = time.perf_counter()
    for i in range(n):
        hub.register_dataset(token, title=f"entry {i}", schema=SCHEMA, tags=["bench", f"t{i % 10}"], k=float(i % 50))
    ours = time.perf_counter() - start
    bare = make_engine(url)
    meta = sa.MetaData()
    table = sa.Table(f"bare_{secrets.token_hex(3)}", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("title", sa.String(300)), sa.Column("schema", sa.JSON), sa.Column("tag", sa.String(100)))
    meta.create_all(bare)
    start = time.perf_counter()
    for i in range(n):
        with bare.begin() as c:
            c.execute(table.insert().values(title=f"entry {i}", schema=SCHEMA, tag="bench"))
    baseline = time.perf_counter() - start
    meta.drop_all(bare)
    start = time.perf_counter()
    hits = hub.search_datasets(token, "entry 1", tags=["t1"], min_k=10, limit=10**6)
    search = time.perf_counter() - start
    print(f"| {label} | {n / ours:.0f}/s | {n / baseline:.0f}/s | {ours / baseline:.1f}x | "
          f"{search * 1000:.0f} ms ({len(hits)} hits of {n}) |")
    hub.engine.dispose()
    bare.dispose()


def bench_lake(tmp: Path) -> None:
    df = load("diabetes130").head(100_000)
    hub, admin = Hub.init(f"sqlite:///{tmp / 'lake.db'}", (tmp / "lake").as_uri())
    start = time.perf_counter()
    hub.lake_put(admin, "bench/diabetes", df)
    put = time.perf_counter() - start
    start = time.perf_counter()
    back = hub.lake_get(admin, "bench/diabetes")
    get = time.perf_counter() - start
    assert len(back) == len(df)
    start = time.perf_counter()
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    (tmp / "plain.parquet").write_bytes(buffer.getvalue())
    plain_put = time.perf_counter() - start
    start = time.perf_counter()
    pd.read_parquet(tmp / "plain.parquet")
    plain_get = time.perf_counter() - start
    print("\n| lake, 100k x 50 table | hub | plain pyarrow file | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| put (Parquet, SHA-256, atomic move, audit) | {put:.2f} s | {plain_put:.2f} s | {put / plain_put:.2f}x |")
    print(f"| get (checksum verified, audit) | {get:.2f} s | {plain_get:.2f} s | {get / plain_get:.2f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server to create a scratch database on ('' to skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("| engine | hub registrations | bare inserts | cost of safety | search |")
        print("|---|---:|---:|---:|---|")
        bench_engine("SQLite (WAL, synchronous=FULL)", f"sqlite:///{tmp / 'hub.db'}", (tmp / "lake1").as_uri(),
                     args.entries)
        if args.pg:
            admin_url = args.pg.replace("postgresql://", "postgresql+psycopg://", 1)
            name = f"secured_bench_{secrets.token_hex(3)}"
            try:
                engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
                with engine.connect() as c:
                    c.exec_driver_sql(f"CREATE DATABASE {name}")
            except Exception as exc:  # noqa: BLE001
                print(f"PostgreSQL skipped: {type(exc).__name__}")
            else:
                try:
                    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
                    bench_engine("PostgreSQL", url, (tmp / "lake2").as_uri(), args.entries)
                finally:
                    with engine.connect() as c:
                        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        bench_lake(tmp)
