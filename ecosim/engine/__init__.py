"""The Ray engine: training tasks, species actors and the asyncio ecosystem coordinator.

Only this package imports ``ray``.
"""
