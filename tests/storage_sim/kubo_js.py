"""A second implementation of Kubo's UnixFS layout for the tests: js-ipfs's importer over node.

``ipfs-unixfs-importer`` (17.1.1, from npm, installed into ``.tools/`` by
``scripts/install-tools.sh``) set to Kubo's ``ipfs add`` defaults: 256 KiB
fixed chunks, the balanced layout with 174 links per node, CIDv0 with
UnixFS file leaves (or CIDv1 with raw leaves), one-chunk files as their
leaf, no wrapping, HAMT sharding estimated from link names and CIDs. One
node process serves many trees (a JSON line in, a CID line out).

The js importer shards a directory when the estimate is *past* the
threshold, Kubo (boxo) when it *reaches* it: :meth:`KuboJs.cid` takes
pmrsim's (Kubo's) threshold and hands js one byte less, so both rules
describe the same directories.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Mapping
from typing import Any

from tests.tools import NODE_MODULES, require

SERVER = """
import { importer } from "ipfs-unixfs-importer";
import { MemoryBlockstore } from "blockstore-core/memory";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { createInterface } from "node:readline";
for await (const line of createInterface({ input: process.stdin })) {
  const spec = JSON.parse(line);
  const entries = spec.entries.map((e) => e.content === null ? { path: e.path }
    : { path: e.path, content: Buffer.from(e.content, "base64") });
  let last;
  for await (const entry of importer(entries, new MemoryBlockstore(), {
    cidVersion: spec.cidVersion, rawLeaves: spec.cidVersion === 1,
    chunker: fixedSize({ chunkSize: 262144 }), layout: balanced({ maxChildrenPerNode: 174 }),
    shardSplitThresholdBytes: spec.threshold, shardSplitStrategy: "links-bytes",
    reduceSingleLeafToSelf: true, wrapWithDirectory: false })) last = entry;
  process.stdout.write(last.cid.toString() + "\\n");
}
"""


def flatten(tree: Mapping[str, Any], prefix: str = "root") -> list[dict[str, Any]]:
    """The importer's entries for ``tree`` under the folder ``prefix`` (empty folders too)."""
    out: list[dict[str, Any]] = [{"path": prefix, "content": None}]
    for name, value in tree.items():
        path = f"{prefix}/{name}"
        if isinstance(value, bytes):
            out.append({"path": path, "content": base64.b64encode(value).decode()})
        else:
            out.extend(flatten(value, path))
    return out


class KuboJs:
    """A running node process that computes the root CID of trees as Kubo lays them out."""

    def __init__(self) -> None:
        require("ipfs-unixfs-importer")
        require("blockstore-core")
        node = require("node")
        self.process = subprocess.Popen(
            [str(node), "--input-type=module", "-e", SERVER], cwd=NODE_MODULES.parent,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cid(self, tree: Mapping[str, Any], cid_version: int = 0, threshold: int = 262_144) -> str:
        """The root CID of ``tree`` (a folder) under Kubo's sharding rule at ``threshold``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        spec = {"cidVersion": cid_version, "threshold": threshold - 1, "entries": flatten(tree)}
        self.process.stdin.write(json.dumps(spec) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline().strip()
        assert line, f"the js importer stopped (exit {self.process.poll()})"
        return line

    def close(self) -> None:
        """Stop the node process."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(30)
