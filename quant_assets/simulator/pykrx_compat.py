"""Point pykrx (1.2.x) at the simulator without editing pykrx.

pykrx hard-codes `https://data.krx.co.kr/...` in its request classes and logs in with
`pykrx.website.comm.auth.login_krx` on a `requests.Session`. The least invasive redirection is at
the transport layer: a requests transport adapter (`Session.mount`, documented by requests) that
sends every `data.krx.co.kr` request to the simulator's `/krx` prefix, mounted on the session pykrx
uses, which is installed with pykrx's own `auth.set_auth_session`. pykrx's code, URLs, headers
(the `data.krx.co.kr` Referer our simulator checks) and login flow run unchanged::

    from quant_assets.simulator.pykrx_compat import use_simulator
    use_simulator("http://127.0.0.1:8765/krx")          # before the first pykrx call
    from pykrx import stock
    stock.get_etf_ohlcv_by_date("20240102", "20240131", "069500")

Cookies are attributed to `data.krx.co.kr` (the adapter rewrites a copy of the request), so the
session looks to pykrx exactly like a real KRX session. Import pykrx with `KRX_ID`/`KRX_PW`
unset (it logs in to the real KRX at import time when they are set).

pykrx treats its session as expired after 55 minutes and then logs in again on a fresh, unmounted
session (to the real host): call `use_simulator` again in a long-lived process.
"""

from __future__ import annotations

import time

import requests
from requests.adapters import HTTPAdapter

KRX_HOSTS = ("https://data.krx.co.kr", "http://data.krx.co.kr")


class RedirectAdapter(HTTPAdapter):
    """Send requests for `KRX_HOSTS` to `target` (e.g. `http://127.0.0.1:8765/krx`)."""

    def __init__(self, target: str, **kw):
        super().__init__(**kw)
        self.target = target.rstrip("/")

    def send(self, request, **kw):
        for host in KRX_HOSTS:
            if request.url.startswith(host):
                request = request.copy()  # the caller's request keeps its URL: cookies stay on data.krx.co.kr
                request.url = self.target + request.url[len(host):]
                break
        return super().send(request, **kw)


def krx_session(target: str) -> requests.Session:
    """A requests session whose `data.krx.co.kr` traffic goes to `target`."""
    session = requests.Session()
    adapter = RedirectAdapter(target)
    for host in KRX_HOSTS:
        session.mount(host + "/", adapter)
    return session


def use_simulator(target: str, krx_id: str = "demo", krx_pw: str = "demo"):
    """Log pykrx in to the simulator at `target` (its `/krx` URL) and make pykrx use that session.

    Returns pykrx's `KRXSession`. Raises RuntimeError if the simulator refuses the login.
    """
    from pykrx.website.comm import auth

    session = krx_session(target)
    if not auth.login_krx(krx_id, krx_pw, session):
        raise RuntimeError(f"pykrx login to the simulator at {target} failed for account {krx_id!r}")
    now = time.time()
    krxs = auth.KRXSession(session=session, login_time=now, expiry_time=now + 3600, is_authenticated=True,
                           cookies={c.name: {"value": c.value} for c in session.cookies})
    auth.set_auth_session(krxs)
    return krxs
