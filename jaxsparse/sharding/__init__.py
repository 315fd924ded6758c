"""Sharding planner and sharded operations (image partitions, halo exchange)."""

from ._default import MIN_SHARDED_NNZ as MIN_SHARDED_NNZ
from ._default import default_mesh as default_mesh
from ._default import set_default_mesh as set_default_mesh
from ._local_rows import from_local_rows as from_local_rows
from ._plan import LOCAL_FORMATS as LOCAL_FORMATS
from ._plan import MAX_FORCED_DIAGONALS as MAX_FORCED_DIAGONALS
from ._plan import HaloPlan as HaloPlan
from ._plan import ShardingPlan as ShardingPlan
from ._shard import plan as plan
from ._shard import shard as shard
from ._sharded import ShardedCSR as ShardedCSR
from ._sharded import TransposedShardedCSR as TransposedShardedCSR
from ._sharded_ops import diagonal as diagonal
from ._sharded_ops import sddmm as sddmm
from ._sharded_ops import sum as sum  # noqa: A004
