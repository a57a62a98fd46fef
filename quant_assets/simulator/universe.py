"""Static vocabulary of the synthetic market: well-known tickers, sectors, names, codes, ISINs.

Real names and codes are used for the handful of tickers everyone types from memory (reference
§3.3) so that demos and tests read naturally; everything else is synthetic but shaped like the
real thing (6-char codes, `KR7` ISINs with a valid check digit, Korean company names).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

KOSPI_SECTORS = [
    "음식료품", "섬유의복", "종이목재", "화학", "의약품", "비금속광물", "철강금속", "기계", "전기전자",
    "의료정밀", "운수장비", "유통업", "전기가스업", "건설업", "운수창고업", "통신업", "금융업", "증권",
    "보험", "서비스업",
]
# KRX KOSPI sector index numbers (indIdx=1); KOSDAQ sectors are numbered under indIdx=2.
KOSPI_SECTOR_CODES = {
    "음식료품": "005", "섬유의복": "006", "종이목재": "007", "화학": "008", "의약품": "009",
    "비금속광물": "010", "철강금속": "011", "기계": "012", "전기전자": "013", "의료정밀": "014",
    "운수장비": "015", "유통업": "016", "전기가스업": "017", "건설업": "018", "운수창고업": "019",
    "통신업": "020", "금융업": "021", "증권": "024", "보험": "025", "서비스업": "026",
}
KOSDAQ_SECTORS = [
    "반도체", "IT 부품", "소프트웨어", "디지털컨텐츠", "통신장비", "제약", "의료·정밀기기", "기계·장비",
    "화학", "금속", "운송장비·부품", "유통", "음식료·담배", "오락·문화", "건설", "금융",
]
KOSDAQ_SECT_TP = ["우량기업부", "벤처기업부", "중견기업부", "기술성장기업부"]

# Base daily volatility by sector family, so sector indexes differ in character.
SECTOR_VOL = {
    "반도체": 0.026, "IT 부품": 0.027, "제약": 0.030, "의약품": 0.022, "디지털컨텐츠": 0.028,
    "소프트웨어": 0.027, "금융업": 0.014, "보험": 0.013, "전기가스업": 0.013, "통신업": 0.012,
    "음식료품": 0.015, "증권": 0.018,
}


@dataclass(frozen=True)
class KnownStock:
    code: str
    name: str
    eng: str
    market: str  # STK / KSQ
    sector: str
    shares_now: int
    price_start: int  # rough price level at 2010 (pre-split)
    list_date: str = "1990-01-03"
    splits: tuple = ()  # ((ex_date, ratio), ...)
    par: int = 5000
    pref_of: str | None = None


KNOWN_STOCKS: list[KnownStock] = [
    KnownStock("005930", "삼성전자", "SamsungElectronics", "STK", "전기전자", 5_969_782_550, 800_000,
               "1975-06-11", (("2018-05-04", 50),)),
    KnownStock("000660", "SK하이닉스", "SK hynix", "STK", "전기전자", 728_002_365, 21_000, "1996-12-26"),
    KnownStock("373220", "LG에너지솔루션", "LG Energy Solution", "STK", "전기전자", 234_000_000, 450_000,
               "2022-01-27", par=500),
    KnownStock("207940", "삼성바이오로직스", "SAMSUNG BIOLOGICS", "STK", "의약품", 71_174_000, 150_000,
               "2016-11-10", par=2500),
    KnownStock("005380", "현대차", "HYUNDAI MOTOR", "STK", "운수장비", 204_757_766, 110_000, "1974-06-28"),
    KnownStock("000270", "기아", "KIA CORPORATION", "STK", "운수장비", 397_672_632, 20_000, "1973-07-21"),
    KnownStock("068270", "셀트리온", "Celltrion", "STK", "의약품", 216_920_000, 20_000, "2005-07-19",
               par=1000),
    KnownStock("035420", "NAVER", "NAVER", "STK", "서비스업", 158_437_008, 160_000, "2002-10-29",
               (("2018-10-12", 5),), par=500),
    KnownStock("105560", "KB금융", "KB Financial Group", "STK", "금융업", 381_462_103, 50_000, "2008-10-10"),
    KnownStock("005490", "POSCO홀딩스", "POSCO Holdings", "STK", "철강금속", 84_571_230, 600_000,
               "1988-06-10"),
    KnownStock("051910", "LG화학", "LG Chem", "STK", "화학", 70_592_343, 250_000, "2001-04-25"),
    KnownStock("006400", "삼성SDI", "SAMSUNG SDI", "STK", "전기전자", 68_764_530, 150_000, "1979-02-27"),
    KnownStock("035720", "카카오", "Kakao", "STK", "서비스업", 443_000_000, 60_000, "1999-11-11",
               (("2021-04-15", 5),), par=500),
    KnownStock("005935", "삼성전자우", "SamsungElectronics(1P)", "STK", "전기전자", 822_886_700, 600_000,
               "1989-09-25", (("2018-05-04", 50),), pref_of="005930"),
    KnownStock("055550", "신한지주", "Shinhan Financial Group", "STK", "금융업", 509_000_000, 45_000,
               "2001-09-10"),
    KnownStock("012330", "현대모비스", "HYUNDAI MOBIS", "STK", "운수장비", 92_000_000, 150_000, "1989-09-05"),
    KnownStock("066570", "LG전자", "LG Electronics", "STK", "전기전자", 163_647_814, 110_000, "2002-04-22"),
    KnownStock("017670", "SK텔레콤", "SK Telecom", "STK", "통신업", 214_790_053, 170_000, "1989-11-07",
               (("2021-11-29", 5),), par=500),
    KnownStock("015760", "한국전력", "KEPCO", "STK", "전기가스업", 641_964_077, 35_000, "1989-08-10"),
    KnownStock("032830", "삼성생명", "Samsung Life Insurance", "STK", "보험", 200_000_000, 100_000,
               "2010-05-12", par=500),
    KnownStock("096770", "SK이노베이션", "SK innovation", "STK", "화학", 100_000_000, 110_000, "2007-07-25"),
    KnownStock("010130", "고려아연", "KOREA ZINC", "STK", "철강금속", 20_000_000, 200_000, "1990-07-30"),
    KnownStock("097950", "CJ제일제당", "CJ CheilJedang", "STK", "음식료품", 15_054_186, 200_000,
               "2007-09-28"),
    KnownStock("000720", "현대건설", "HYUNDAI E&C", "STK", "건설업", 111_355_765, 70_000, "1984-12-22"),
    KnownStock("139480", "이마트", "E-MART", "STK", "유통업", 27_875_819, 250_000, "2011-06-10"),
    KnownStock("011200", "HMM", "HMM", "STK", "운수창고업", 1_031_000_000, 15_000, "1995-09-05"),
    KnownStock("033780", "KT&G", "KT&G", "STK", "음식료품", 126_000_000, 65_000, "1999-10-08"),
    KnownStock("000100", "유한양행", "YUHAN", "STK", "의약품", 80_000_000, 20_000, "1962-11-01", par=1000),
    KnownStock("028260", "삼성물산", "SAMSUNG C&T", "STK", "유통업", 169_976_544, 60_000, "2014-12-18",
               par=100),
    KnownStock("018260", "삼성에스디에스", "SAMSUNG SDS", "STK", "서비스업", 77_377_800, 190_000,
               "2014-11-14", par=500),
    KnownStock("247540", "에코프로비엠", "ECOPRO BM", "KSQ", "IT 부품", 97_800_000, 30_000, "2019-03-05",
               par=500),
    KnownStock("086520", "에코프로", "ECOPRO", "KSQ", "화학", 133_000_000, 8_000, "2007-07-20", par=500),
    KnownStock("196170", "알테오젠", "Alteogen", "KSQ", "제약", 53_000_000, 10_000, "2014-12-12", par=500),
    KnownStock("028300", "HLB", "HLB", "KSQ", "운송장비·부품", 130_000_000, 3_000, "1996-07-01", par=500),
    KnownStock("263750", "펄어비스", "Pearl Abyss", "KSQ", "디지털컨텐츠", 64_000_000, 150_000,
               "2017-09-14", par=100),
    KnownStock("293490", "카카오게임즈", "Kakao Games", "KSQ", "디지털컨텐츠", 82_000_000, 40_000,
               "2020-09-10", par=100),
    KnownStock("035900", "JYP Ent.", "JYP Ent.", "KSQ", "오락·문화", 35_500_000, 3_000, "2001-08-02",
               par=500),
    KnownStock("041510", "에스엠", "SM Entertainment", "KSQ", "오락·문화", 23_800_000, 15_000, "2000-04-27",
               par=500),
    KnownStock("058470", "리노공업", "LEENO INDUSTRIAL", "KSQ", "반도체", 15_242_370, 30_000, "2001-12-18",
               par=500),
    KnownStock("357780", "솔브레인", "Soulbrain", "KSQ", "반도체", 7_779_000, 150_000, "2020-07-07",
               par=500),
]

# --- ETF vocabulary ----------------------------------------------------------------------------

# brand -> (manager, legal-name prefix, english prefix, weight in the synthetic universe)
BRANDS = {
    "KODEX": ("삼성자산운용", "삼성", "SAMSUNG KODEX", 228),
    "TIGER": ("미래에셋자산운용", "미래에셋", "MIRAEASSET TIGER", 221),
    "RISE": ("KB자산운용", "KB", "KB RISE", 134),
    "ACE": ("한국투자신탁운용", "한국투자", "KIM ACE", 105),
    "PLUS": ("한화자산운용", "한화", "HANWHA PLUS", 75),
    "SOL": ("신한자산운용", "신한", "SHINHAN SOL", 70),
    "KIWOOM": ("키움투자자산운용", "키움", "KIWOOM", 64),
    "HANARO": ("NH-Amundi자산운용", "NH-Amundi", "NH-Amundi HANARO", 46),
    "1Q": ("하나자산운용", "하나", "HANA 1Q", 12),
}

MULTIPLE_NM = {1: "일반", 2: "2X 레버리지", -1: "1X 인버스", -2: "2X 인버스"}
CU_CHOICES = [(50_000, 0.60), (100_000, 0.15), (20_000, 0.10), (10_000, 0.10), (1_000, 0.05)]


@dataclass(frozen=True)
class KnownEtf:
    code: str
    abbrv: str
    index: str  # benchmark index name (must exist in the index table)
    brand: str
    multiple: int = 1
    list_date: str = "2010-01-04"
    fee: float = 0.15
    cu: int = 50_000
    units_now: int = 10_000_000
    nav_start: float = 10_000.0  # NAV at start_date (or at listing when listed later)
    full_name: str | None = None
    eng: str | None = None
    tax: str | None = None


KNOWN_ETFS: list[KnownEtf] = [
    KnownEtf("069500", "KODEX 200", "코스피 200", "KODEX", 1, "2002-10-14", 0.15, 50_000, 188_600_000,
             22_000.0, "삼성 KODEX200 증권상장지수투자신탁[주식]", "SAMSUNG KODEX200 ETF"),
    KnownEtf("102110", "TIGER 200", "코스피 200", "TIGER", 1, "2008-04-03", 0.05, 100_000, 60_000_000,
             22_000.0),
    KnownEtf("122630", "KODEX 레버리지", "코스피 200", "KODEX", 2, "2010-02-22", 0.64, 100_000,
             200_000_000, 10_000.0),
    KnownEtf("114800", "KODEX 인버스", "코스피 200", "KODEX", -1, "2009-09-16", 0.64, 100_000, 180_000_000,
             7_000.0),
    KnownEtf("252670", "KODEX 200선물인버스2X", "코스피 200", "KODEX", -2, "2016-09-22", 0.64, 100_000,
             600_000_000, 10_000.0),
    KnownEtf("229200", "KODEX 코스닥150", "코스닥 150", "KODEX", 1, "2015-10-01", 0.25, 100_000,
             40_000_000, 10_000.0),
    KnownEtf("278530", "KODEX 200TR", "코스피 200", "KODEX", 1, "2017-10-17", 0.05, 50_000, 20_000_000,
             10_000.0),
    KnownEtf("091160", "KODEX 반도체", "KRX 반도체", "KODEX", 1, "2006-06-27", 0.45, 50_000, 9_000_000,
             9_000.0),
    KnownEtf("152100", "PLUS 200", "코스피 200", "PLUS", 1, "2012-01-10", 0.05, 50_000, 25_000_000,
             25_000.0),
    KnownEtf("360750", "TIGER 미국S&P500", "S&P 500", "TIGER", 1, "2020-08-07", 0.07, 100_000,
             300_000_000, 10_000.0, tax="배당소득세(보유기간과세)"),
    KnownEtf("133690", "TIGER 미국나스닥100", "NASDAQ 100", "TIGER", 1, "2010-10-18", 0.07, 100_000,
             30_000_000, 10_000.0, tax="배당소득세(보유기간과세)"),
    KnownEtf("379800", "KODEX 미국S&P500", "S&P 500", "KODEX", 1, "2021-04-09", 0.0099, 50_000,
             150_000_000, 10_000.0, tax="배당소득세(보유기간과세)"),
    KnownEtf("0069M0", "1Q 미국나스닥100", "NASDAQ 100", "1Q", 1, "2025-06-10", 0.0099, 50_000,
             5_000_000, 10_000.0, tax="배당소득세(보유기간과세)"),
]


@dataclass
class IndexSpec:
    """A benchmark. `kind` = 'stocks' (computed from constituents) or 'walk' (own random walk)."""

    name: str
    ind_idx: str
    ind_idx2: str
    provider: str
    mkt_class: str  # 국내 / 해외 / 국내&해외
    asset_class: str  # 주식 / 채권 / ...
    kind: str
    base: float
    vol: float = 0.0
    drift: float = 0.0
    rule: dict = field(default_factory=dict)  # for 'stocks': market, sectors, top_n
    etf_weight: float = 1.0  # popularity when assigning synthetic ETFs
    short: str = ""  # label used in ETF names
    eng: str = ""
    futures_series: str = "1ZZ"  # KR4<series> futures code stem for leveraged/inverse products


def index_specs() -> list[IndexSpec]:
    """The index table: broad market, size, sector, theme and synthetic overseas/other benchmarks."""
    S = IndexSpec
    specs = [
        S("코스피", "1", "001", "KRX", "국내", "주식", "stocks", 1682.77, rule={"market": "STK"},
          etf_weight=3, short="코스피", eng="KOSPI", futures_series="1ZA"),
        S("코스피 200", "1", "028", "KRX", "국내", "주식", "stocks", 223.0,
          rule={"market": "STK", "top_n": 200}, etf_weight=40, short="200", eng="KOSPI200",
          futures_series="101"),
        S("코스닥", "2", "001", "KRX", "국내", "주식", "stocks", 528.0, rule={"market": "KSQ"},
          etf_weight=2, short="코스닥", eng="KOSDAQ", futures_series="1ZB"),
        S("코스닥 150", "2", "203", "KRX", "국내", "주식", "stocks", 1000.0,
          rule={"market": "KSQ", "top_n": 150}, etf_weight=15, short="코스닥150", eng="KOSDAQ150",
          futures_series="106"),
    ]
    for sec in KOSPI_SECTORS:
        specs.append(S(sec, "1", KOSPI_SECTOR_CODES[sec], "KRX", "국내", "주식", "stocks", 1000.0,
                       rule={"market": "STK", "sectors": [sec]}, etf_weight=1.5, short=sec,
                       eng=f"KOSPI {sec}"))
    for k, sec in enumerate(KOSDAQ_SECTORS):
        specs.append(S(f"코스닥 {sec}", "2", f"{24 + k:03d}", "KRX", "국내", "주식", "stocks", 1000.0,
                       rule={"market": "KSQ", "sectors": [sec]}, etf_weight=0.6,
                       short=f"코스닥{sec.replace(' ', '')}", eng=f"KOSDAQ {sec}"))
    themes = [
        ("KRX 반도체", ["전기전자", "반도체"], 30, "KRX", 12, "반도체"),
        ("KRX 헬스케어", ["의약품", "제약", "의료정밀", "의료·정밀기기"], 40, "KRX", 8, "헬스케어"),
        ("KRX 자동차", ["운수장비", "운송장비·부품"], 20, "KRX", 6, "자동차"),
        ("KRX 은행", ["금융업"], 10, "KRX", 6, "은행"),
        ("KRX 2차전지 TOP10", ["전기전자", "화학", "IT 부품"], 10, "KRX", 10, "2차전지TOP10"),
        ("FnGuide 인터넷", ["서비스업", "소프트웨어", "디지털컨텐츠"], 15, "FnGuide", 6, "인터넷"),
        ("FnGuide K-게임", ["디지털컨텐츠", "오락·문화"], 15, "FnGuide", 4, "게임"),
        ("FnGuide 고배당 TOP30", KOSPI_SECTORS, 30, "FnGuide", 8, "고배당"),
        ("KRX 300", KOSPI_SECTORS + KOSDAQ_SECTORS, 300, "KRX", 6, "KRX300"),
    ]
    for k, (name, secs, top, prov, w, short) in enumerate(themes):
        specs.append(S(name, "5", f"{300 + k:03d}", prov, "국내", "주식", "stocks", 1000.0,
                       rule={"sectors": secs, "top_n": top}, etf_weight=w, short=short, eng=name))
    walks = [
        # name, provider, mkt class, asset class, base, vol, drift, weight, short, eng
        ("S&P 500", "S&P", "해외", "주식", 1132.99, 0.011, 0.0004, 45, "미국S&P500", "US S&P500"),
        ("NASDAQ 100", "NASDAQ", "해외", "주식", 1886.0, 0.013, 0.0006, 40, "미국나스닥100", "US NASDAQ100"),
        ("필라델피아 반도체", "NASDAQ", "해외", "주식", 370.0, 0.018, 0.0007, 15, "미국필라델피아반도체",
         "US PHLX Semiconductor"),
        ("다우존스 미국배당100", "S&P", "해외", "주식", 300.0, 0.010, 0.0004, 15, "미국배당다우존스",
         "US Dividend Dow Jones"),
        ("니케이225", "Nikkei", "해외", "주식", 10654.0, 0.013, 0.0003, 8, "일본니케이225", "Nikkei225"),
        ("항셍테크", "Hang Seng", "해외", "주식", 3000.0, 0.020, 0.0, 8, "차이나항셍테크", "HSTECH"),
        ("유로스탁스50", "STOXX", "해외", "주식", 2964.0, 0.012, 0.0001, 5, "유로스탁스50", "EURO STOXX50"),
        ("Nifty 50", "NSE", "해외", "주식", 5232.0, 0.011, 0.0005, 6, "인도Nifty50", "India Nifty50"),
        ("MSCI World", "MSCI", "해외", "주식", 1200.0, 0.009, 0.0003, 6, "MSCI선진국", "MSCI World"),
        ("Solactive 글로벌 AI", "Solactive", "해외", "주식", 1000.0, 0.016, 0.0006, 12, "글로벌AI",
         "Global AI"),
        ("KIS 국고채 3년", "KIS자산평가", "국내", "채권", 100.0, 0.0012, 0.00012, 14, "국고채3년",
         "KTB 3Y"),
        ("KAP 국고채 10년", "한국자산평가(KAP)", "국내", "채권", 100.0, 0.0035, 0.00015, 12, "국고채10년",
         "KTB 10Y"),
        ("KAP KOFR 금리", "한국자산평가(KAP)", "국내", "채권", 100.0, 0.00005, 0.00012, 12, "KOFR금리액티브",
         "KOFR"),
        ("ICE 미국채 30년", "ICE", "해외", "채권", 100.0, 0.008, 0.0001, 10, "미국채30년", "US Treasury 30Y"),
        ("KIS 회사채 AA-", "KIS자산평가", "국내", "채권", 100.0, 0.0015, 0.00014, 8, "회사채", "Corp Bond"),
        ("S&P GSCI 골드", "S&P", "해외", "원자재", 1000.0, 0.010, 0.0003, 6, "골드선물(H)", "Gold Futures"),
        ("S&P GSCI 원유", "S&P", "해외", "원자재", 500.0, 0.022, 0.0, 4, "WTI원유선물(H)", "WTI Futures"),
        ("미국달러선물지수", "KRX", "국내", "통화", 1000.0, 0.005, 0.00005, 5, "미국달러선물", "USD Futures"),
        ("FnGuide 리츠부동산", "FnGuide", "국내", "부동산", 1000.0, 0.010, 0.0001, 4, "리츠부동산", "REITs"),
        ("FnGuide TDF 2045", "FnGuide", "국내&해외", "혼합자산", 1000.0, 0.007, 0.0003, 8, "TDF2045",
         "TDF2045"),
        ("KAP 머니마켓", "한국자산평가(KAP)", "국내", "기타", 1000.0, 0.00003, 0.0001, 5, "머니마켓액티브",
         "Money Market"),
    ]
    for k, (name, prov, mc, ac, base, vol, drift, w, short, eng) in enumerate(walks):
        specs.append(S(name, "9", f"{900 + k:03d}", prov, mc, ac, "walk", base, vol, drift,
                       etf_weight=w, short=short, eng=eng, futures_series=f"1{k:02d}"[-3:]))
    return specs


# --- names and codes -----------------------------------------------------------------------------

_PREFIXES = [
    "한국", "대한", "동양", "삼화", "신성", "태영", "세진", "우리", "한빛", "대성", "성우", "동원", "대림",
    "한솔", "금호", "삼양", "동국", "일진", "영풍", "대원", "한일", "서울", "부산", "경남", "광주", "미래",
    "새한", "동화", "화승", "국일", "삼진", "유니", "에이스", "코리아", "글로벌", "하이", "넥스", "비전",
    "제일", "태광", "신일", "경동", "대덕", "선진", "원익", "에스티", "케이씨", "엘에스", "디와이", "티에스",
    "아이", "지엔", "유진", "한진", "세원", "삼익", "대호", "진양", "효성", "풍산", "남선", "범양", "조광",
    "한성", "오리온", "청호", "보령", "일양", "동아", "녹십자", "휴온", "파마", "바이오", "메디", "셀",
]
_SUFFIX_BY_SECTOR = {
    "전기전자": ["전자", "전기", "디스플레이", "일렉트릭", "테크"],
    "반도체": ["반도체", "세미콘", "실리콘", "마이크론", "테크"],
    "IT 부품": ["이노텍", "부품", "정밀", "솔루션", "테크놀로지"],
    "화학": ["화학", "케미칼", "소재", "폴리머", "화성"],
    "의약품": ["제약", "약품", "바이오", "헬스케어", "팜"],
    "제약": ["제약", "바이오", "바이오로직스", "테라퓨틱스", "파마"],
    "의료정밀": ["메디칼", "정밀", "메디텍"], "의료·정밀기기": ["메디칼", "메디텍", "헬스"],
    "금융업": ["금융지주", "캐피탈", "금융"], "금융": ["캐피탈", "인베스트", "창업투자"],
    "증권": ["증권", "투자증권"], "보험": ["생명", "화재", "손해보험"],
    "운수장비": ["모터스", "중공업", "조선", "오토", "기계"], "운송장비·부품": ["오토텍", "모터", "부품"],
    "건설업": ["건설", "산업개발", "엔지니어링"], "건설": ["건설", "이앤씨"],
    "음식료품": ["식품", "제과", "푸드", "주조"], "음식료·담배": ["식품", "푸드", "에프앤비"],
    "유통업": ["상사", "물산", "리테일", "백화점"], "유통": ["리테일", "커머스", "유통"],
    "서비스업": ["홀딩스", "서비스", "네트웍스", "플랫폼"], "소프트웨어": ["소프트", "시스템", "데이타"],
    "디지털컨텐츠": ["게임즈", "엔터테인먼트", "미디어"], "오락·문화": ["엔터", "스튜디오", "컨텐츠"],
    "통신업": ["텔레콤", "통신"], "통신장비": ["텔레콤", "네트웍스", "통신"],
    "철강금속": ["철강", "제강", "금속", "스틸"], "금속": ["메탈", "금속", "스틸"],
    "기계": ["기계", "중공업", "기공"], "기계·장비": ["기계", "이엔지", "장비"],
    "비금속광물": ["시멘트", "유리", "세라믹"], "종이목재": ["제지", "페이퍼", "목재"],
    "섬유의복": ["방직", "섬유", "패션"], "전기가스업": ["에너지", "가스", "전력"],
    "운수창고업": ["해운", "물류", "로지스틱스", "항공"],
}
_ENG = {"전자": "ELECTRONICS", "화학": "CHEMICAL", "제약": "PHARM", "건설": "E&C", "식품": "FOODS"}


def company_name(rng, sector: str, used: set[str]) -> str:
    """A plausible, unique Korean company name for a sector."""
    suffixes = _SUFFIX_BY_SECTOR.get(sector, ["산업", "홀딩스"])
    for _ in range(200):
        name = rng.choice(_PREFIXES) + rng.choice(suffixes)
        if name not in used:
            used.add(name)
            return name
    k = 2
    base = rng.choice(_PREFIXES) + rng.choice(suffixes)
    while f"{base}{k}" in used:
        k += 1
    used.add(f"{base}{k}")
    return f"{base}{k}"


def isin_check_digit(body: str) -> str:
    """ISO 6166 check digit (letters -> 10..35, then Luhn over the digit string)."""
    digits = "".join(str(int(c, 36)) for c in body)
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def make_isin(body11: str) -> str:
    return body11 + isin_check_digit(body11)


def stock_isin(code: str, preferred: bool) -> str:
    """Common: `KR7` + code + `00` + check. Preferred: the 6th char becomes the share class digit
    (005935 -> KR7005931001), which is why ISINs must never be derived from short codes."""
    if preferred:
        return make_isin("KR7" + code[:5] + "1" + "00")
    return make_isin("KR7" + code + "00")


def etf_isin(code: str) -> str:
    return make_isin("KR7" + code + "00")


def to_date(s: str) -> dt.date:
    return dt.date.fromisoformat(s)
