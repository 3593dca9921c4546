"""CSAT (issue #20; docs/csat.md): one satisfaction survey per resolved case.

- ``sending``: queue and send the survey after resolution, or record why not;
- ``parser``: read a 1–5 score from the customer's reply, in their language where possible;
- ``answers``: record an answer (a private message or the survey page);
- ``messages``: the question's words and the signed survey link;
- ``stats``: the dashboard's CSAT figures.
"""
