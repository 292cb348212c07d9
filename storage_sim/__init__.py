"""storage_sim: a simulated private IPFS swarm with Kubo-identical CIDs.

Content addressing is the real thing (UnixFS dag-pb DAGs, CIDv0/CIDv1
byte-identical to Kubo's ``ipfs add``, CARv1 archives); the swarm around it
(nodes, swarm key, provider records, pinning with replication, repair,
garbage collection, latency and bandwidth, churn, byzantine nodes,
partitions) runs in simulated time on SimPy. This package never imports
``sim``; its errors derive from :class:`StorageError`.

Main entry points:

* :func:`compute_cid`, :func:`import_stream`, :func:`import_bytes`,
  :func:`export_bytes` - UnixFS import/export.
* :func:`import_tree`, :func:`import_path`, :func:`export_tree`, :func:`export_path`,
  :func:`walk_tree`, :func:`list_directory` - UnixFS directories (``ipfs add -r``,
  ``-w``; HAMT-sharded past Kubo's threshold).
* :func:`export_car`, :func:`import_car` (complete archives only), :func:`read_car`,
  :func:`check_complete` - CARv1.
* :class:`Swarm`, :class:`Node`, :class:`MemoryBlockstore`,
  :class:`FileBlockstore`, :class:`PackBlockstore` - the simulated network.
"""

from storage_sim.blockstore import Blockstore, FileBlockstore, MemoryBlockstore, PackBlockstore
from storage_sim.car import check_complete, export_car, import_car, read_car, write_car
from storage_sim.cid import DAG_PB, RAW, Cid
from storage_sim.counters import SwarmCounters
from storage_sim.errors import (
    BlockNotFoundError,
    CarFormatError,
    ContentUnavailableError,
    DagFormatError,
    IntegrityError,
    InvalidCidError,
    NodeOfflineError,
    ReplicationError,
    StorageError,
    SwarmKeyError,
    UnknownNodeError,
)
from storage_sim.node import Node
from storage_sim.swarm import Swarm
from storage_sim.swarmkey import format_swarm_key, new_swarm_key, parse_swarm_key
from storage_sim.unixfs import (
    BlockSink,
    ByteStream,
    ImportParams,
    ImportResult,
    compute_cid,
    export_bytes,
    export_chunks,
    export_to,
    import_bytes,
    import_stream,
    walk_dag,
)
from storage_sim.unixfs_dir import (
    DirEntry,
    TreeResult,
    export_path,
    export_tree,
    import_path,
    import_tree,
    list_directory,
    walk_tree,
)

__all__ = [
    "DAG_PB",
    "RAW",
    "BlockNotFoundError",
    "BlockSink",
    "Blockstore",
    "ByteStream",
    "CarFormatError",
    "Cid",
    "ContentUnavailableError",
    "DagFormatError",
    "DirEntry",
    "FileBlockstore",
    "ImportParams",
    "ImportResult",
    "IntegrityError",
    "InvalidCidError",
    "MemoryBlockstore",
    "Node",
    "NodeOfflineError",
    "PackBlockstore",
    "ReplicationError",
    "StorageError",
    "Swarm",
    "SwarmCounters",
    "SwarmKeyError",
    "TreeResult",
    "UnknownNodeError",
    "check_complete",
    "compute_cid",
    "export_bytes",
    "export_car",
    "export_chunks",
    "export_path",
    "export_to",
    "export_tree",
    "format_swarm_key",
    "import_bytes",
    "import_car",
    "import_path",
    "import_stream",
    "import_tree",
    "list_directory",
    "new_swarm_key",
    "parse_swarm_key",
    "read_car",
    "walk_dag",
    "walk_tree",
    "write_car",
]
