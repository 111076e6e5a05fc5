"""Sale requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from salesync_common.types import Id, Model, Money, Quantity, TableNo, text


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
    sales_volume: int  # net of refunds
    payments: int  # sales not wholly refunded
    refunded: int
    # pricing.Figures of the day (v2): net_sales = gross - discounts - refunds = sales_volume
    gross_sales: int
    discount_total: int
    refund_total: int
    net_sales: int
    taxable_total: int
    vat: int
    supply_value: int
    exempt_total: int
    order_count: int
    # what the day's refunds took off taxable_total, exempt_total and vat (the summary report)
    refund_taxable_total: int = 0
    refund_exempt_total: int = 0
    refund_vat: int = 0


class PaymentTypeTotal(Model):
    payment_type: str
    sales_volume: int
    payments: int


class DailyTotalsOut(Model):
    days: list[DayTotal]
    by_payment_type: list[PaymentTypeTotal]
    sales_volume: int
    payments: int


# ---------------------------------------------------------------------------------------------
# v2: split payments, refunds, receipts

PaymentType = Literal["card", "cash", "other"]
ApprovalNo = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{4,20}$")]
PositiveMoney = Annotated[int, Field(ge=1, le=100_000_000)]


class CardIn(Model):
    approval_no: ApprovalNo  # stored; every answer and log shows it as ****1234
    issuer: text(50)  # type: ignore[valid-type]
    installment_months: Annotated[int, Field(ge=0, le=36)] = 0


class PaymentIn(Model):
    """One payment of an order: ``order_id`` or ``table_no`` (its open order)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": 1201,
                    "amount": 20000,
                    "payment_type": "card",
                    "card": {"approval_no": "30125678", "issuer": "신한", "installment_months": 0},
                },
                {"table_no": 3, "amount": 12000, "payment_type": "cash", "tendered": 20000},
            ]
        }
    )

    order_id: Id | None = None
    table_no: TableNo | None = None
    amount: PositiveMoney
    payment_type: PaymentType
    tendered: PositiveMoney | None = None  # cash only: what the customer handed over
    card: CardIn | None = None  # card only, required for it

    @model_validator(mode="after")
    def _consistent(self) -> PaymentIn:
        if (self.order_id is None) == (self.table_no is None):
            raise ValueError("exactly one of order_id and table_no is required")
        if self.payment_type == "card" and self.card is None:
            raise ValueError("a card payment needs card (approval_no, issuer)")
        if self.payment_type != "card" and self.card is not None:
            raise ValueError("card data belongs to a card payment only")
        if self.tendered is not None:
            if self.payment_type != "cash":
                raise ValueError("tendered is for cash payments only")
            if self.tendered < self.amount:
                raise ValueError("tendered may not be below amount")
        return self


class CardOut(Model):
    approval_no: str  # masked: ****5678
    issuer: str | None
    installment_months: int | None


class PaymentOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "payment_id": "6c1f0f3e-9a0b-5d3e-8f43-2b8d1a7c9e10",
                    "order_id": 1201,
                    "table_no": 3,
                    "payment_type": "cash",
                    "amount": 12000,
                    "tendered": 20000,
                    "change": 8000,
                    "card": None,
                    "staff_id": 7,
                    "paid_total": 32000,
                    "balance": 0,
                    "order_status": "paid",
                    "sale_id": 88,
                    "receipt_no": "20261210-0012",
                }
            ]
        }
    )

    payment_id: str  # the payment_ref the order's ledger has too
    order_id: int
    table_no: int
    payment_type: str
    amount: int  # applied to the order
    tendered: int | None
    change: int
    card: CardOut | None
    staff_id: int | None
    paid_total: int
    balance: int
    order_status: str  # "open" | "paid"
    sale_id: int | None = None  # once the order is paid
    receipt_no: str | None = None  # once the order is paid


class RefundLineIn(Model):
    line_id: Id
    quantity: Quantity


class RefundIn(Model):
    """``amount`` or ``lines`` (neither: everything not refunded yet), with a reason."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount": 5000, "reason": "음식 불만"},
                {"lines": [{"line_id": 41, "quantity": 1}], "reason": "품절 후 취소"},
            ]
        }
    )

    amount: PositiveMoney | None = None
    lines: Annotated[list[RefundLineIn], Field(min_length=1, max_length=200)] | None = None
    reason: text(200)  # type: ignore[valid-type]
    payment_type: PaymentType | None = None  # the tender given back (default: see docs)

    @model_validator(mode="after")
    def _one_kind(self) -> RefundIn:
        if self.amount is not None and self.lines is not None:
            raise ValueError("give amount or lines, not both")
        if self.lines is not None and len({line.line_id for line in self.lines}) != len(self.lines):
            raise ValueError("each line_id at most once")
        return self


class TenderOut(Model):
    payment_type: str
    amount: int


class RefundOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "refund_id": 5,
                    "sale_id": 88,
                    "order_id": 1201,
                    "amount": 5000,
                    "taxable_total": 5000,
                    "vat": 455,
                    "supply_value": 4545,
                    "exempt_total": 0,
                    "payment_type": "cash",
                    "tenders": [{"payment_type": "cash", "amount": 5000}],
                    "lines": None,
                    "reason": "음식 불만",
                    "staff_id": 7,
                    "created_at": "2026-12-10T13:05:00+09:00",
                    "refunded_total": 5000,
                    "refundable": 27000,
                }
            ]
        }
    )

    refund_id: int
    sale_id: int
    order_id: int
    amount: int
    taxable_total: int
    vat: int
    supply_value: int
    exempt_total: int
    payment_type: str  # the tender given back, or "mixed"
    tenders: list[TenderOut]
    lines: list[dict[str, int]] | None
    reason: str
    staff_id: int | None
    created_at: str
    refunded_total: int | None = None  # of the sale, after this refund
    refundable: int | None = None  # what is left to refund


class RefundListItem(Model):
    refund_id: int
    sale_id: int
    amount: int
    reason: str
    staff_id: int | None
    created_at: str


class RefundsOut(Model):
    refunds: list[RefundListItem]


class ReceiptQuery(Model):
    tz: Annotated[str, Field(min_length=1, max_length=64)] | None = None


ReceiptNo = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}-[0-9]{4,6}$")]


class ReceiptOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "receipt_no": "20261210-0012",
                    "sale_id": 88,
                    "order_id": 1201,
                    "table_no": 3,
                    "business_date": "2026-12-10",
                    "paid_at": "2026-12-10T12:41:07+09:00",
                    "store": {
                        "store_name": "김밥천국 역삼점",
                        "address": "서울 강남구 테헤란로 1",
                        "business_number": "123-45-67890",
                        "phone": "0212345678",
                        "owner_name": "홍길동",
                    },
                    "lines": [
                        {
                            "line_id": 41,
                            "item_id": 9,
                            "item_name": "아메리카노",
                            "tax": "vat",
                            "options": [{"name": "샷 추가", "price_delta": 500}],
                            "unit_price": 5000,
                            "quantity": 2,
                            "amount": 10000,
                            "discount": 1000,
                            "net": 9000,
                        }
                    ],
                    "discounts": [],
                    "subtotal": 33000,
                    "discount_total": 1000,
                    "taxable_total": 32000,
                    "vat": 2909,
                    "supply_value": 29091,
                    "exempt_total": 0,
                    "total": 32000,
                    "payments": [
                        {
                            "payment_id": "6c1f0f3e-9a0b-5d3e-8f43-2b8d1a7c9e10",
                            "payment_type": "card",
                            "amount": 20000,
                            "tendered": None,
                            "change": 0,
                            "card": {
                                "approval_no": "****5678",
                                "issuer": "신한",
                                "installment_months": 0,
                            },
                            "staff_id": 7,
                            "paid_at": "2026-12-10T12:40:00+09:00",
                        }
                    ],
                    "change": 8000,
                    "refunds": [],
                    "refunded_total": 0,
                    "net_total": 32000,
                    "reprint_count": 0,
                }
            ]
        }
    )

    receipt_no: str
    sale_id: int
    order_id: int
    table_no: int
    business_date: str
    paid_at: str
    store: dict[str, Any]
    lines: list[dict[str, Any]]
    discounts: list[dict[str, Any]]
    subtotal: int
    discount_total: int
    taxable_total: int
    vat: int
    supply_value: int
    exempt_total: int
    total: int
    payments: list[dict[str, Any]]
    change: int
    refunds: list[dict[str, Any]]
    refunded_total: int
    net_total: int
    reprint_count: int
