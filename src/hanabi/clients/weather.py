"""Open-Meteo: geocoding (`/v1/search`) and forecast (`/v1/forecast`). No API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, TypeAdapter

from hanabi.clients.http import Upstream


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    latitude: float
    longitude: float
    country: str | None = None
    country_code: str | None = None
    region: str | None = None
    timezone: str | None = None
    population: int | None = None

    @property
    def label(self) -> str:
        """`Paris, Île-de-France, France` — as much as is known."""
        parts = [self.name]
        if self.region and self.region != self.name:
            parts.append(self.region)
        if self.country:
            parts.append(self.country)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class CurrentWeather:
    temperature_c: float
    feels_like_c: float
    humidity: int
    wind_kmh: float
    wind_direction: int | None
    code: int
    is_day: bool
    time: str


@dataclass(frozen=True, slots=True)
class DailyForecast:
    date: str
    code: int
    max_c: float
    min_c: float
    precipitation_chance: int | None


@dataclass(frozen=True, slots=True)
class Forecast:
    current: CurrentWeather
    days: tuple[DailyForecast, ...]
    timezone: str | None


class WeatherClient(Protocol):
    async def search(self, name: str, *, count: int = 10, language: str = "en") -> list[Place]: ...

    async def forecast(self, latitude: float, longitude: float, *, days: int = 3) -> Forecast: ...


# Response shapes, as documented at https://open-meteo.com/en/docs and https://open-meteo.com/en/docs/geocoding-api


class _GeoResult(BaseModel):
    name: str
    latitude: float
    longitude: float
    country: str | None = None
    country_code: str | None = None
    admin1: str | None = None
    timezone: str | None = None
    population: int | None = None


class _GeoResponse(BaseModel):
    results: list[_GeoResult] = []


class _Current(BaseModel):
    time: str
    temperature_2m: float
    apparent_temperature: float
    relative_humidity_2m: int
    wind_speed_10m: float
    wind_direction_10m: int | None = None
    weather_code: int
    is_day: int = 1


class _Daily(BaseModel):
    time: list[str]
    weather_code: list[int]
    temperature_2m_max: list[float]
    temperature_2m_min: list[float]
    precipitation_probability_max: list[int | None] | None = None


class _ForecastResponse(BaseModel):
    timezone: str | None = None
    current: _Current
    daily: _Daily


_GEO = TypeAdapter(_GeoResponse)
_FORECAST = TypeAdapter(_ForecastResponse)

CURRENT_FIELDS = (
    "temperature_2m,apparent_temperature,relative_humidity_2m,wind_speed_10m,wind_direction_10m,weather_code,is_day"
)
DAILY_FIELDS = "weather_code,temperature_2m_max,temperature_2m_min,precipitation_probability_max"


class OpenMeteoClient:
    """Always asks in °C and km/h; the service converts for display, so one cached forecast serves every unit."""

    def __init__(self, upstream: Upstream, geocoding_url: str, forecast_url: str) -> None:
        # One upstream (and so one circuit breaker) for Open-Meteo's geocoding and forecast APIs.
        self._geocoding = upstream
        self._forecast = upstream
        self._geocoding_url = geocoding_url.rstrip("/")
        self._forecast_url = forecast_url.rstrip("/")

    async def search(self, name: str, *, count: int = 10, language: str = "en") -> list[Place]:
        params: dict[str, str | int | float] = {"name": name, "count": count, "language": language, "format": "json"}
        body = await self._geocoding.request("GET", f"{self._geocoding_url}/v1/search", _GEO, params=params)
        if body is None:
            return []
        return [
            Place(
                name=r.name,
                latitude=r.latitude,
                longitude=r.longitude,
                country=r.country,
                country_code=r.country_code,
                region=r.admin1,
                timezone=r.timezone,
                population=r.population,
            )
            for r in body.results
        ]

    async def forecast(self, latitude: float, longitude: float, *, days: int = 3) -> Forecast:
        params: dict[str, str | int | float] = {
            "latitude": f"{latitude:.4f}",
            "longitude": f"{longitude:.4f}",
            "current": CURRENT_FIELDS,
            "daily": DAILY_FIELDS,
            "timezone": "auto",
            "forecast_days": days,
            "temperature_unit": "celsius",
            "wind_speed_unit": "kmh",
        }
        body = await self._forecast.request("GET", f"{self._forecast_url}/v1/forecast", _FORECAST, params=params)
        if body is None:
            raise self._forecast.malformed("forecast: empty body")
        daily = body.daily
        lengths = {
            len(daily.time),
            len(daily.weather_code),
            len(daily.temperature_2m_max),
            len(daily.temperature_2m_min),
        }
        if len(lengths) != 1 or not daily.time:
            raise self._forecast.malformed("forecast: daily arrays of different lengths")
        chances = daily.precipitation_probability_max or [None] * len(daily.time)
        current = body.current
        return Forecast(
            current=CurrentWeather(
                temperature_c=current.temperature_2m,
                feels_like_c=current.apparent_temperature,
                humidity=current.relative_humidity_2m,
                wind_kmh=current.wind_speed_10m,
                wind_direction=current.wind_direction_10m,
                code=current.weather_code,
                is_day=bool(current.is_day),
                time=current.time,
            ),
            days=tuple(
                DailyForecast(
                    date=daily.time[i],
                    code=daily.weather_code[i],
                    max_c=daily.temperature_2m_max[i],
                    min_c=daily.temperature_2m_min[i],
                    precipitation_chance=chances[i] if i < len(chances) else None,
                )
                for i in range(min(days, len(daily.time)))
            ),
            timezone=body.timezone,
        )
