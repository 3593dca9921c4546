"""Business logic: plain functions over models, each in one transaction, each leaving CaseEvents.

Front ends (admin, API, webhooks, tasks, commands) call these and nothing else changes state.
"""
