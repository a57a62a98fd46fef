"""Global markets through KIS (issue #10): US, CN, HK, JP and VN universes and daily bars,
KRW exchange rates, world indices, technical indicators and monthly/quarterly/yearly bars per
region. Each module holds one kind of asset; README "Global markets".
"""

from quant_assets import metadata
from quant_assets.assets.overseas.aggregates import BUCKET_ASSETS
from quant_assets.assets.overseas.bars import OHLCV_ASSETS
from quant_assets.assets.overseas.factors import FACTOR_ASSETS
from quant_assets.assets.overseas.fx import exchange_rate_history
from quant_assets.assets.overseas.indices import INDEX_ASSETS
from quant_assets.assets.overseas.ranges import RANGE_ASSETS
from quant_assets.assets.overseas.sensors import SENSORS
from quant_assets.assets.overseas.technical import TECHNICAL_ASSETS
from quant_assets.assets.overseas.universe import UNIVERSE_ASSETS

# the catalogue table behind each asset (partition metadata: column schema, coverage)
metadata.ASSET_TABLES.update({a.key.path[-1]: "ohlcv_data" for a in OHLCV_ASSETS.values()})
metadata.ASSET_TABLES.update({a.key.path[-1]: "global_market_indices" for a in INDEX_ASSETS.values()})
metadata.ASSET_TABLES.update({a.key.path[-1]: "tickers" for a in UNIVERSE_ASSETS.values()})
metadata.ASSET_TABLES.update({a.key.path[-1]: table for (table, _), a in BUCKET_ASSETS.items()})
metadata.ASSET_TABLES.update({a.key.path[-1]: "ohlcv_data" for a in TECHNICAL_ASSETS.values()})
metadata.ASSET_TABLES.update({a.key.path[-1]: "factor_scores" for a in FACTOR_ASSETS.values()})
metadata.ASSET_TABLES.update({a.key.path[-1]: "price_range_52w" for a in RANGE_ASSETS.values()})

ASSETS = [*UNIVERSE_ASSETS.values(), *OHLCV_ASSETS.values(), exchange_rate_history, *INDEX_ASSETS.values(),
          *TECHNICAL_ASSETS.values(), *BUCKET_ASSETS.values(), *FACTOR_ASSETS.values()]
ASSETS += RANGE_ASSETS.values()

__all__ = ["ASSETS", "SENSORS"]
