"""Sale requests and responses (they validate input and document the API)."""

from __future__ import annotations

from salesync_common.types import Model, Money, TableNo, text


class PayIn(Model):
    table_no: TableNo
    payment_type: text(50)  # type: ignore[valid-type]
    total_price: Money


class ResultOut(Model):
    result: str
    message: str


class PaidOut(Model):
    result: str
    message: str
    id: int


class TotalMismatchOut(Model):
    result: str
    message: str
    total_price: int


class SaleOut(Model):
    id: int
    total_price: int
    sale_date: str
    payment_type: str
    payment_label: str
    order_id: int
    table_no: int
    status: str  # "completed" or "refunded"
    refunded: bool
    refunded_at: str | None


class SalesOut(Model):
    sales: list[SaleOut]


class DayTotal(Model):
    date: str
    sales_volume: int
    payments: int
    refunded: int


class PaymentTypeTotal(Model):
    payment_type: str
    sales_volume: int
    payments: int


class DailyTotalsOut(Model):
    days: list[DayTotal]
    by_payment_type: list[PaymentTypeTotal]
    sales_volume: int
    payments: int
