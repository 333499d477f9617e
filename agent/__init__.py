"""The investigation: catalog, LangGraph state graph, planners, correlation, diagnosis, reports."""
