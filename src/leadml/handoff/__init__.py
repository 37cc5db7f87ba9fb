"""Handing scores back to a CRM: a signed webhook after each `leadml score`.

`payload` builds the JSON deliveries from a stored batch (pure); `webhook` signs and
POSTs them with retries (stdlib `urllib`, no new dependency).
"""
