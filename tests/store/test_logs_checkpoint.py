"""Arrow logs (fixed schema, typed empty columns) and atomic checkpoints."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from ecosim.errors import CheckpointError
from ecosim.evolution.records import NetworkRecord
from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.store.checkpoint import load_checkpoint, save_checkpoint
from ecosim.store.logs import (
    GENERATION_SCHEMA,
    NETWORK_SCHEMA,
    LogWriter,
    read_generations,
    read_networks,
)


def _net_row(gen, nid, **kw):
    row = {
        "generation": gen,
        "network_id": nid,
        "species_id": 0,
        "parent_ids": [],
        "origin": "initial",
        "fitness": 0.5,
        "status": "ok",
        "culled": False,
    }
    row.update(kw)
    return row


def test_empty_first_generation_columns_keep_their_declared_types(tmp_path):
    w = LogWriter(tmp_path)
    w.write_generation({"generation": 0, "mean_offspring_fitness_before_bp": None, "champion_id": None})
    w.write_generation({"generation": 1, "mean_offspring_fitness_before_bp": 0.7, "champion_id": 4})
    w.write_networks(0, 0, [_net_row(0, 0, fitness_before_bp=None, mutation=None)])
    w.write_networks(1, 0, [_net_row(1, 1, fitness_before_bp=0.3, mutation="add_node", parent_ids=[0])])
    table = ds.dataset(tmp_path / "generations", format="parquet").to_table()
    assert table.schema.field("mean_offspring_fitness_before_bp").type == pa.float64()
    assert table.schema.field("champion_id").type == pa.int64()
    nets = ds.dataset(tmp_path / "networks", format="parquet").to_table()
    assert nets.schema.equals(NETWORK_SCHEMA, check_metadata=False)
    assert pd.read_parquet(tmp_path / "generations").shape[0] == 2
    g = read_generations(tmp_path)
    assert list(g["generation"]) == [0, 1] and pd.isna(g.loc[0, "mean_offspring_fitness_before_bp"])
    assert read_networks(tmp_path)["parent_ids"].map(list).tolist() == [[], [0]]


def test_rows_outside_the_schema_are_rejected(tmp_path):
    with pytest.raises(KeyError, match="bogus"):
        LogWriter(tmp_path).write_generation({"generation": 0, "bogus": 1})


def test_truncate_after_removes_later_generations(tmp_path):
    w = LogWriter(tmp_path)
    for g in range(4):
        w.write_generation({"generation": g})
        w.write_networks(g, 1, [_net_row(g, g)])
    assert w.truncate_after(1) == 4
    assert list(read_generations(tmp_path)["generation"]) == [0, 1]
    assert read_generations(tmp_path).columns.tolist() == GENERATION_SCHEMA.names


def _species(seed):
    g = Genome((1, 8, 8), (ConvLayer(((1, 1), (3, 3))), DenseLayer(3)))
    recs = {
        i: NetworkRecord(i, 0, g, init_weights(g, np.random.default_rng(seed + i)), fitness=0.1 * i, age=2)
        for i in range(3)
    }
    return [{"species_id": 0, "key": g.species_key, "generation": 4, "networks": recs}]


def test_checkpoint_round_trip_is_exact_and_keeps_the_newest(tmp_path):
    for gen in range(4):
        save_checkpoint(tmp_path, gen, {"next_network_id": 3 + gen}, _species(gen), keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["LATEST", "gen-000002", "gen-000003"]
    ck = load_checkpoint(tmp_path)
    assert ck["generation"] == 3 and ck["coordinator"]["next_network_id"] == 6
    want = _species(3)[0]["networks"]
    got = ck["species"][0]["networks"]
    for i in want:
        assert got[i].genome == want[i].genome and got[i].fitness == want[i].fitness
        assert all(np.array_equal(a, b) for a, b in zip(got[i].weights.arrays(), want[i].weights.arrays()))


def test_run_files_and_checkpoint_folders_get_the_modes_of_a_plain_open_and_mkdir(tmp_path):
    import stat

    from ecosim.atomic import UMASK, atomic_write

    atomic_write(tmp_path / "config.toml", "x = 1\n")  # a temporary file is 0600 until renamed
    save_checkpoint(tmp_path, 0, {"next_network_id": 3}, _species(0), keep=2)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "config.toml") == 0o666 & ~UMASK
    assert mode(tmp_path / "checkpoints" / "gen-000000") == 0o777 & ~UMASK  # a temporary folder is 0700
    assert mode(tmp_path / "checkpoints" / "LATEST") == 0o666 & ~UMASK


def test_a_partial_checkpoint_is_ignored(tmp_path):
    save_checkpoint(tmp_path, 0, {}, _species(0))
    (tmp_path / "checkpoints" / ".tmp-crashed").mkdir()  # a writer killed mid-way
    assert load_checkpoint(tmp_path)["generation"] == 0
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        load_checkpoint(tmp_path / "elsewhere")


def test_the_row_builders_and_the_parquet_schemas_name_the_same_columns():
    """One definition per log (issue 20): the row a species writes has exactly the networks-log
    columns, and a generation's statistics and counters are generation-log columns."""
    import numpy as np

    from ecosim.evolution.generation_rows import (
        COUNT_COLUMNS,
        failed_offspring_row,
        network_row,
        summarise_generation,
    )
    from ecosim.genome import DenseLayer, Genome, init_weights
    from ecosim.store.logs import GENERATION_SCHEMA, NETWORK_SCHEMA

    g = Genome((1, 4, 4), (DenseLayer(3),))
    rec = NetworkRecord(1, 0, g, init_weights(g, np.random.default_rng(0)), fitness=0.5, test_accuracy=0.5)
    row = network_row(3, rec, 0, True)
    assert set(row) == set(NETWORK_SCHEMA.names)
    assert set(failed_offspring_row(3, rec)) <= set(NETWORK_SCHEMA.names)
    assert set(summarise_generation([row])) | set(COUNT_COLUMNS) <= set(GENERATION_SCHEMA.names)
    assert row["macs"] == 3 * 16
