"""The Plan (docs/design.md contract) as torch tensors: for every (batch, head, query block) a sorted list of kept keys,
stored as CSR in row-major (b, h, qb) order. Builders never materialise more than their input (a token mask is
already S x S; a key mask or block mask is not)."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch

_MAGIC = b"FGPLAN1\0"
_HEADER = struct.Struct("<8s6q")  # magic, batch, heads, seq_q, seq_kv, block_m, nnz (as src/core/plan_file.cpp)
# Optional sections after the indices (src/core/plan_file.cpp): 8-byte tag, int64 size, payload; unknown tags skipped.
_SECTION = struct.Struct("<8sq")
_QUALITY_TAG = b"FGQUAL1\0"
_QUALITY = struct.Struct("<ddqq")  # dropped_mass_mean, dropped_mass_max, estimated (0/1), queries
QUALITY_KEYS = ("dropped_mass_mean", "dropped_mass_max", "estimated")


@dataclass
class Plan:
    offsets: torch.Tensor  # int64 [rows + 1]
    indices: torch.Tensor  # int32 [nnz], per row sorted ascending, unique, in [0, seq_kv)
    batch: int
    heads: int
    seq_q: int
    seq_kv: int
    block_m: int = 128
    # The softmax mass the plan drops (issue 20), set by the predictors: {"dropped_mass_mean", "dropped_mass_max":
    # over the queries measured, of 1 - sum of the kept P; "estimated": True if only sampled queries were measured;
    # "queries": how many}. None: not measured (plans built from masks).
    quality: dict | None = None
    _on_device: dict = field(default_factory=dict, repr=False, compare=False)

    # -- sizes -------------------------------------------------------------------------------------------------
    @property
    def query_blocks(self) -> int:
        return -(-self.seq_q // self.block_m)

    @property
    def rows(self) -> int:
        return self.batch * self.heads * self.query_blocks

    @property
    def nnz(self) -> int:
        return int(self.indices.numel())

    def density(self) -> float:
        """Kept M x 1 slices over all slices."""
        return self.nnz / (self.rows * self.seq_kv)

    def shape_matches(self, batch: int, heads: int, seq_q: int, seq_kv: int) -> bool:
        return (self.batch, self.heads, self.seq_q, self.seq_kv) == (batch, heads, seq_q, seq_kv)

    def to(self, device) -> "Plan":
        """The same plan with its tensors on `device` (cached: a plan is built once and run many times)."""
        device = torch.device(device)
        if self.offsets.device == device:
            return self
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = Plan(self.offsets.to(device), self.indices.to(device), self.batch, self.heads,
                                        self.seq_q, self.seq_kv, self.block_m, self.quality)
        return self._on_device[key]

    # -- checks ------------------------------------------------------------------------------------------------
    def validate(self) -> "Plan":
        """Checks the contract with the library's check (torch.ops.fgattn.validate_plan: on the CPU, or on the plan's
        GPU where only a broken row comes to the host); raises ValueError naming the first broken row and rule, or
        TypeError for tensors of the wrong dtype."""
        torch.ops.fgattn.validate_plan(self.offsets, self.indices, self.batch, self.heads, self.seq_q, self.seq_kv,
                                       self.block_m)
        return self

    # -- builders ----------------------------------------------------------------------------------------------
    @classmethod
    def dense(cls, batch: int, heads: int, seq_q: int, seq_kv: int, block_m: int = 128) -> "Plan":
        """Every query block keeps every key (dense attention as a plan)."""
        rows = batch * heads * -(-seq_q // block_m)
        offsets = torch.arange(rows + 1, dtype=torch.int64) * seq_kv
        indices = torch.arange(seq_kv, dtype=torch.int32).repeat(rows)
        return cls(offsets, indices, batch, heads, seq_q, seq_kv, block_m)

    @classmethod
    def from_key_mask(cls, key_mask: torch.Tensor, seq_q: int, block_m: int = 128) -> "Plan":
        """key_mask: bool [B, H, nQB, Skv], True = query block keeps that key (the M x 1 mask itself)."""
        if key_mask.dim() != 4:
            raise ValueError(f"key_mask: must be [B, H, nQB, Skv], got shape {list(key_mask.shape)}")
        batch, heads, nqb, seq_kv = key_mask.shape
        if nqb != -(-seq_q // block_m):
            raise ValueError(f"key_mask: has {nqb} query blocks, but ceil(seq_q / block_m) = {-(-seq_q // block_m)}")
        # Built on the mask's device (a GPU mask of 10^8+ slices compacts in milliseconds); the CSR lands on the CPU.
        flat = key_mask.reshape(-1, seq_kv).to(torch.bool)
        counts = flat.sum(dim=1, dtype=torch.int64)
        offsets = torch.zeros(flat.shape[0] + 1, dtype=torch.int64, device=flat.device)
        torch.cumsum(counts, 0, out=offsets[1:])
        # Flat positions in row-major order, so each row's keys come out sorted ascending; 1-D halves nonzero's output.
        indices = (flat.reshape(-1).nonzero().squeeze(1) % seq_kv).to(torch.int32)
        return cls(offsets.cpu(), indices.cpu().contiguous(), batch, heads, seq_q, seq_kv, block_m)

    @classmethod
    def from_token_mask(cls, token_mask: torch.Tensor, block_m: int = 128) -> "Plan":
        """token_mask: bool [B, H, Sq, Skv]. A query block keeps the union of its queries' keys."""
        if token_mask.dim() != 4:
            raise ValueError(f"token_mask: must be [B, H, Sq, Skv], got shape {list(token_mask.shape)}")
        batch, heads, seq_q, seq_kv = token_mask.shape
        nqb = -(-seq_q // block_m)
        m = token_mask.to(torch.bool)
        pad = nqb * block_m - seq_q
        if pad:
            m = torch.cat([m, m.new_zeros(batch, heads, pad, seq_kv)], dim=2)
        return cls.from_key_mask(m.view(batch, heads, nqb, block_m, seq_kv).any(dim=3), seq_q, block_m)

    @classmethod
    def from_block_mask(cls, block_mask: torch.Tensor, seq_q: int, seq_kv: int, block_m: int = 128,
                        block_n: int | None = None) -> "Plan":
        """block_mask: bool [B, H, nQB, ceil(Skv / block_n)], True = keep that whole key block (block-sparse)."""
        block_n = block_m if block_n is None else block_n
        if block_mask.dim() != 4 or block_mask.shape[3] != -(-seq_kv // block_n):
            raise ValueError(f"block_mask: must be [B, H, nQB, ceil(Skv / block_n) = {-(-seq_kv // block_n)}], "
                             f"got shape {list(block_mask.shape)}")
        keys = block_mask.to(torch.bool).repeat_interleave(block_n, dim=3)[..., :seq_kv]
        return cls.from_key_mask(keys, seq_q, block_m)

    def with_text_tokens(self, text_start: int, key_valid: torch.Tensor | None = None) -> "Plan":
        """This plan for a joint self-attention sequence whose tokens from `text_start` on are text (HunyuanVideo:
        [video, text]); docs/design.md keeps text tokens in every plan. Every query block keeps its own keys below
        text_start plus every valid text key; a query block holding any text query keeps every valid key (text
        attends densely); keys that key_valid (bool [B, Skv], False = padding) rejects are dropped.
        O(nnz): each row's new keys are written in place, no sort; on the plan's device (a GPU plan stays there)."""
        if self.seq_q != self.seq_kv:
            raise ValueError(f"plan: with_text_tokens needs joint self-attention (seq_q == seq_kv), got seq_q = "
                             f"{self.seq_q}, seq_kv = {self.seq_kv}")
        if not 0 <= text_start <= self.seq_kv:
            raise ValueError(f"text_start: must be in [0, {self.seq_kv}], got {text_start}")
        dev = self.offsets.device
        if key_valid is None:
            key_valid = torch.ones(self.batch, self.seq_kv, dtype=torch.bool, device=dev)
        if key_valid.dtype != torch.bool or tuple(key_valid.shape) != (self.batch, self.seq_kv):
            raise ValueError(f"key_valid: must be bool [{self.batch}, {self.seq_kv}], got {key_valid.dtype} "
                             f"{list(key_valid.shape)}")
        kv = key_valid.to(dev)
        o, i = self.offsets, self.indices.to(dev).long()
        row = torch.arange(self.rows, device=dev)
        b_of, qb = row // (self.heads * self.query_blocks), row % self.query_blocks
        dense = ((qb + 1) * self.block_m).clamp(max=self.seq_q) > text_start  # the block holds a text query
        row_of = torch.repeat_interleave(row, o[1:] - o[:-1])
        keep = (i < text_start) & kv[b_of[row_of], i] & ~dense[row_of]
        n_keep = torch.zeros(self.rows, dtype=torch.int64, device=dev).index_add_(0, row_of, keep.long())
        n_text, n_all = kv[:, text_start:].sum(1), kv.sum(1)
        counts = torch.where(dense, n_all[b_of], n_keep + n_text[b_of])
        offsets = torch.zeros(self.rows + 1, dtype=torch.int64, device=dev)
        torch.cumsum(counts, 0, out=offsets[1:])
        indices = torch.empty(int(offsets[-1]), dtype=torch.int32, device=dev)
        # Kept video keys, in their order: rank within the row = kept elements before it in the row.
        before = torch.cumsum(keep.long(), 0) - keep.long()
        keep_before_row = torch.cumsum(n_keep, 0) - n_keep
        pos = offsets[:-1][row_of] + before - keep_before_row[row_of]
        indices[pos[keep]] = i[keep].to(torch.int32)
        for b in range(self.batch):  # then the batch item's valid text keys, or all its valid keys for text rows
            for rows, keys, first in ((row[(b_of == b) & ~dense], kv[b, text_start:].nonzero().squeeze(1) + text_start,
                                       n_keep), (row[(b_of == b) & dense], kv[b].nonzero().squeeze(1), None)):
                start = offsets[:-1][rows] + (first[rows] if first is not None else 0)
                indices[(start[:, None] + torch.arange(keys.numel(), device=dev)).reshape(-1)] = \
                    keys.to(torch.int32).repeat(rows.numel())
        return Plan(offsets, indices, self.batch, self.heads, self.seq_q, self.seq_kv, self.block_m)

    # -- views -------------------------------------------------------------------------------------------------
    def key_mask(self) -> torch.Tensor:
        """bool [B, H, nQB, Skv]: True where the query block keeps the key."""
        counts = (self.offsets[1:] - self.offsets[:-1]).cpu()
        rows = torch.repeat_interleave(torch.arange(self.rows), counts)
        mask = torch.zeros(self.rows, self.seq_kv, dtype=torch.bool)
        mask[rows, self.indices.cpu().long()] = True
        return mask.view(self.batch, self.heads, self.query_blocks, self.seq_kv)

    def token_mask(self) -> torch.Tensor:
        """bool [B, H, Sq, Skv]: every query of block i sees exactly block i's keys (for SDPA comparisons)."""
        m = self.key_mask().repeat_interleave(self.block_m, dim=2)
        return m[:, :, : self.seq_q]

    # -- head slicing and padding (sequence parallelism: python/fgattn/parallel) ---------------------------------
    def head_costs(self) -> torch.Tensor:
        """int64 [H]: kept M x 1 slices per head, summed over the batch (the head's share of the kernel's work)."""
        counts = (self.offsets[1:] - self.offsets[:-1]).cpu()
        return counts.view(self.batch, self.heads, self.query_blocks).sum(dim=(0, 2))

    def select_heads(self, heads) -> "Plan":
        """The plan of the listed heads, in that order; -1 gives a head with no kept keys (a padding head: O = 0)."""
        heads = torch.as_tensor(heads, dtype=torch.int64).flatten()
        if heads.numel() == 0 or bool((heads < -1).any()) or bool((heads >= self.heads).any()):
            raise ValueError(f"heads: must be a non-empty list of head indices in [0, {self.heads}) or -1, "
                             f"got {heads.tolist()}")
        # a (batch, head) is a contiguous run of query-block rows, so its keys are one contiguous slice of indices
        nqb = self.query_blocks
        off, idx = self.offsets.cpu(), self.indices.cpu()
        counts, parts = [], []
        for b in range(self.batch):
            for h in heads.tolist():
                if h < 0:
                    counts.append(torch.zeros(nqb, dtype=torch.int64))
                    continue
                r0 = (b * self.heads + h) * nqb
                counts.append(off[r0 + 1:r0 + nqb + 1] - off[r0:r0 + nqb])
                parts.append(idx[int(off[r0]):int(off[r0 + nqb])])
        offsets = torch.zeros(len(counts) * nqb + 1, dtype=torch.int64)
        torch.cumsum(torch.cat(counts), 0, out=offsets[1:])
        indices = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int32)
        return Plan(offsets, indices, self.batch, int(heads.numel()), self.seq_q, self.seq_kv, self.block_m)

    def pad(self, seq_q: int, seq_kv: int) -> "Plan":
        """The same plan over padded lengths: the added query blocks keep no keys and no row keeps an added key, so
        padded keys are never attended (their queries' outputs are 0 and meant to be dropped)."""
        if seq_q < self.seq_q or seq_kv < self.seq_kv:
            raise ValueError(f"seq_q, seq_kv: must be >= the plan's ({self.seq_q}, {self.seq_kv}), "
                             f"got ({seq_q}, {seq_kv})")
        nqb, new_nqb = self.query_blocks, -(-seq_q // self.block_m)
        counts = (self.offsets[1:] - self.offsets[:-1]).cpu().view(self.batch * self.heads, nqb)
        counts = torch.cat([counts, counts.new_zeros(counts.shape[0], new_nqb - nqb)], dim=1).reshape(-1)
        offsets = torch.zeros(counts.numel() + 1, dtype=torch.int64)
        torch.cumsum(counts, 0, out=offsets[1:])
        return Plan(offsets, self.indices.cpu(), self.batch, self.heads, seq_q, seq_kv, self.block_m)

    # -- files (the C++ format of src/core/plan_file.cpp) --------------------------------------------------------
    def save(self, path) -> None:
        self.validate()
        o = self.offsets.cpu().contiguous().to(torch.int64)
        i = self.indices.cpu().contiguous().to(torch.int32)
        with open(path, "wb") as f:
            f.write(_HEADER.pack(_MAGIC, self.batch, self.heads, self.seq_q, self.seq_kv, self.block_m, i.numel()))
            f.write(o.numpy().astype("<i8").tobytes())
            f.write(i.numpy().astype("<i4").tobytes())
            if self.quality is not None:
                q = self.quality
                f.write(_SECTION.pack(_QUALITY_TAG, _QUALITY.size))
                f.write(_QUALITY.pack(float(q["dropped_mass_mean"]), float(q["dropped_mass_max"]),
                                      int(bool(q["estimated"])), int(q.get("queries", 0))))

    @classmethod
    def load(cls, path) -> "Plan":
        data = Path(path).read_bytes()
        if len(data) < _HEADER.size:
            raise ValueError(f"{path}: truncated plan file header")
        magic, batch, heads, seq_q, seq_kv, block_m, nnz = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"{path}: not an fgattn plan file (bad magic)")
        if min(batch, heads, seq_q, seq_kv) < 1 or nnz < 0 or not 1 <= block_m <= 1 << 20:
            raise ValueError(f"{path}: plan sizes out of range")
        rows = batch * heads * -(-seq_q // block_m)
        want = (rows + 1) * 8 + nnz * 4
        if len(data) - _HEADER.size < want:
            raise ValueError(f"{path}: plan file holds {len(data) - _HEADER.size} payload bytes, "
                             f"its header declares {want}")
        end = _HEADER.size + want
        off = torch.frombuffer(bytearray(data[_HEADER.size:_HEADER.size + (rows + 1) * 8]), dtype=torch.int64)
        idx = torch.frombuffer(bytearray(data[_HEADER.size + (rows + 1) * 8:end]), dtype=torch.int32) if nnz else \
            torch.zeros(0, dtype=torch.int32)
        return cls(off.clone(), idx.clone(), batch, heads, seq_q, seq_kv, block_m,
                   _read_sections(data, end, path)).validate()


def _read_sections(data: bytes, pos: int, path) -> dict | None:
    """The quality section of a plan file, if any, from byte `pos` on (other sections skipped)."""
    quality = None
    while pos < len(data):
        if len(data) - pos < _SECTION.size:
            raise ValueError(f"{path}: truncated section header after the plan")
        tag, size = _SECTION.unpack_from(data, pos)
        pos += _SECTION.size
        if size < 0 or size > len(data) - pos:
            raise ValueError(f"{path}: section of {size} bytes, but {len(data) - pos} bytes are left")
        if tag == _QUALITY_TAG:
            if size != _QUALITY.size:
                raise ValueError(f"{path}: quality section of {size} bytes, expected {_QUALITY.size}")
            mean, mx, estimated, queries = _QUALITY.unpack_from(data, pos)
            if not (0 <= mean <= 1 and 0 <= mx <= 1) or estimated not in (0, 1) or queries < 0:
                raise ValueError(f"{path}: invalid quality section")
            quality = {"dropped_mass_mean": mean, "dropped_mass_max": mx, "estimated": bool(estimated),
                       "queries": queries}
        pos += size
    return quality


def dense_plan(batch: int, heads: int, seq_q: int, seq_kv: int, block_m: int = 128) -> Plan:
    return Plan.dense(batch, heads, seq_q, seq_kv, block_m)
