"""The component side of guest/python/bench/run.sh: bench_workloads against /data."""

import bench_workloads
from wit_world import exports


class Run(exports.Run):
    async def run(self) -> None:
        await bench_workloads.main("/data")
