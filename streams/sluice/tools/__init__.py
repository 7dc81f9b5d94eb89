"""Tools apart from the runtime: benchmarks, fault injection and the dev broker/demo.

Nothing under ``sluice`` outside ``sluice.tools`` and ``sluice.cli`` imports this
package.
"""
