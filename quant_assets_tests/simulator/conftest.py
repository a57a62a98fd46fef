"""Fixtures for the simulator tests: one small simulator over real HTTP on loopback.

The clock is frozen (speed 0) at Friday 2026-11-20 19:00 KST so publication rules are exact;
each test gets the server back with that clock, no faults and no sessions.
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from quant_assets.simulator import SimConfig, SimulatorServer
from quant_assets.simulator.clock import KST

NOW = dt.datetime(2026, 11, 20, 19, 0, tzinfo=KST)
REFERER = "https://data.krx.co.kr/contents/MDC/MDI/outerLoader/index.cmd"
DATA = "/comm/bldAttendant/getJsonData.cmd"
CONFIG = SimConfig(size="small", seed=42, end_date="2026-11-20", now=NOW, speed=0.0,
                   krx_accounts={"alice": "right-pw"}, krx_pw_change_ids=("old",))


def kst(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=KST)


@pytest.fixture(scope="session")
def simsrv():
    srv = SimulatorServer(CONFIG, port=0).start()
    yield srv
    srv.stop()


@pytest.fixture()
def srv(simsrv):
    """The session simulator, reset (frozen clock, no faults, no sessions) around each test."""
    simsrv.set_clock(NOW, 0.0)
    simsrv.clear_faults()
    simsrv.reset_sessions()
    yield simsrv
    simsrv.set_clock(NOW, 0.0)
    simsrv.clear_faults()
    simsrv.reset_sessions()


class Krx:
    """A logged-in KRX client session (the login flow of reference §1.2)."""

    def __init__(self, srv, user: str = "bob", pw: str = "pw"):
        self.srv, self.http = srv, requests.Session()
        self.user, self.pw = user, pw

    def login(self, **extra) -> dict:
        base = self.srv.krx_url
        self.http.get(base + "/contents/MDC/COMS/client/MDCCOMS001.cmd", timeout=5)
        self.http.get(base + "/contents/MDC/COMS/client/view/login.jsp?site=mdc", timeout=5)
        form = {"mbrNm": "", "telNo": "", "di": "", "certType": "", "mbrId": self.user, "pw": self.pw, **extra}
        return self.http.post(base + "/contents/MDC/COMS/client/MDCCOMS001D1.cmd", data=form, timeout=5).json()

    def raw(self, bld: str, timeout: float = 5, **params) -> requests.Response:
        full = bld if "/" in bld else (f"dbms/comm/finder/{bld}" if bld.startswith("finder")
                                       else f"dbms/MDC/STAT/standard/{bld}")
        return self.http.post(self.srv.krx_url + DATA, data={**params, "bld": full},
                              headers={"Referer": REFERER}, timeout=timeout)

    def rows(self, bld: str, **params) -> list[dict]:
        r = self.raw(bld, **params)
        assert r.status_code == 200, r.text[:200]
        body = r.json()
        keys = [k for k in body if k != "CURRENT_DATETIME"]
        assert len(keys) == 1, keys
        return body[keys[0]]


@pytest.fixture()
def krx(srv) -> Krx:
    k = Krx(srv)
    assert k.login()["_error_code"] == "CD001"
    return k


class Kis:
    def __init__(self, base: str, appkey: str = "APPKEY-1", appsecret: str = "SECRET-1"):
        self.base, self.appkey, self.appsecret = base, appkey, appsecret
        self.token = None

    def issue(self) -> requests.Response:
        return requests.post(self.base + "/oauth2/tokenP", json={
            "grant_type": "client_credentials", "appkey": self.appkey, "appsecret": self.appsecret}, timeout=5)

    def get(self, path: str, tr_id: str, timeout: float = 5, **params) -> requests.Response:
        if self.token is None:
            r = self.issue()
            assert r.status_code == 200, r.text
            self.token = r.json()["access_token"]
        headers = {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {self.token}",
                   "appkey": self.appkey, "appsecret": self.appsecret, "tr_id": tr_id, "custtype": "P"}
        return requests.get(self.base + path, params=params, headers=headers, timeout=timeout)


@pytest.fixture()
def kis(srv) -> Kis:
    return Kis(srv.kis_url)
