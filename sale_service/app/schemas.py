"""Sale requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from salesync_common.types import BusinessDate, Id, Model, Money, Quantity, TableNo, Text, text


class PayIn(Model):
    table_no: TableNo
    payment_type: Annotated[str, Text(50)]
    total_price: Money


class ResultOut(Model):
    result: str
    message: str


class PaidOut(Model):
    result: str
    message: str
    id: int


class TotalMismatchOut(Model):
    """409 of ``POST /sales/``: ``total_mismatch`` (with the server's ``total_price``) or, when
    the store requires an open shift and has none, ``no_open_shift`` (without it)."""

    result: str
    message: str
    total_price: int | None = None


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


class FiguresOut(Model):
    """``pricing.Figures`` as answered (net_sales = gross_sales - discount_total - refund_total)."""

    gross_sales: int
    discount_total: int
    refund_total: int
    net_sales: int
    taxable_total: int
    vat: int
    supply_value: int
    exempt_total: int
    order_count: int


class DayTotal(FiguresOut):
    """A day's totals; its figures are the day's (net_sales = sales_volume)."""

    date: str
    sales_volume: int  # net of refunds
    payments: int  # sales not wholly refunded
    refunded: int
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
    issuer: Annotated[str, Text(50)]
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
    reason: Annotated[str, Text(200)]
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


# ---------------------------------------------------------------------------------------------
# v2: shifts (shifts.py)

CashMovementKind = Literal["pay_in", "pay_out"]


class ShiftOpenIn(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{"opening_float": 100000}]})

    opening_float: Money  # the cash in the drawer at opening (0-100,000,000 won)


class ShiftOpenedOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "shift_id": 12,
                    "status": "open",
                    "business_date": "2026-12-10",
                    "opened_at": "2026-12-10T09:00:00+09:00",
                    "opening_float": 100000,
                    "opened_by": 7,
                }
            ]
        }
    )

    shift_id: int
    status: str
    business_date: str
    opened_at: str
    opening_float: int
    opened_by: int | None  # staff_id; null: the owner


class CashMovementIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kind": "pay_out", "amount": 20000, "reason": "우유 구입"},
                {"kind": "pay_in", "amount": 50000, "reason": "잔돈 보충"},
            ]
        }
    )

    kind: CashMovementKind
    amount: PositiveMoney
    reason: text(200)  # type: ignore[valid-type]


class CashMovementOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "movement_id": 3,
                    "kind": "pay_out",
                    "amount": 20000,
                    "reason": "우유 구입",
                    "staff_id": 7,
                    "created_at": "2026-12-10T11:20:00+09:00",
                }
            ]
        }
    )

    movement_id: int
    kind: str
    amount: int
    reason: str
    staff_id: int | None
    created_at: str


class ShiftCloseIn(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{"counted_cash": 187000}]})

    counted_cash: Money  # the cash counted in the drawer at close


class TakenOut(Model):
    card: int
    cash: int
    other: int


class StaffShiftOut(FiguresOut):
    staff_id: int | None  # null: the owner
    payment_count: int
    taken: TakenOut  # what this staff member's payments applied, per tender


_Z_EXAMPLE: dict[str, Any] = {
    "shift_id": 12,
    "status": "closed",
    "business_date": "2026-12-10",
    "opened_at": "2026-12-10T09:00:00+09:00",
    "opened_by": 7,
    "closed_at": "2026-12-10T22:05:00+09:00",
    "closed_by": 7,
    "opening_float": 100000,
    "cash_sales": 58000,
    "cash_refunds": 3000,
    "pay_ins": 50000,
    "pay_outs": 20000,
    "expected_cash": 185000,
    "counted_cash": 184000,
    "difference": -1000,
    "card_sales": 120000,
    "card_refunds": 20000,
    "card_total": 100000,
    "other_sales": 10000,
    "other_refunds": 0,
    "other_total": 10000,
    "cash_total": 55000,
    "gross_sales": 195000,
    "discount_total": 7000,
    "refund_total": 23000,
    "net_sales": 165000,
    "taxable_total": 160000,
    "vat": 14545,
    "supply_value": 145455,
    "exempt_total": 5000,
    "order_count": 9,
    "average_check": 18333,
    "payment_count": 11,
    "cash_movements": [
        {
            "movement_id": 3,
            "kind": "pay_out",
            "amount": 20000,
            "reason": "우유 구입",
            "staff_id": 7,
            "created_at": "2026-12-10T11:20:00+09:00",
        }
    ],
    "per_staff": [
        {
            "staff_id": 7,
            "payment_count": 11,
            "taken": {"card": 120000, "cash": 58000, "other": 10000},
            "gross_sales": 195000,
            "discount_total": 7000,
            "refund_total": 23000,
            "net_sales": 165000,
            "taxable_total": 160000,
            "vat": 14545,
            "supply_value": 145455,
            "exempt_total": 5000,
            "order_count": 9,
        }
    ],
}


class ShiftReportOut(FiguresOut):
    """The X report (open: ``counted_cash``/``difference`` null) or the Z report (closed).

    Its figures: of the orders settled by a payment of this shift; ``refund_total``: the refunds
    made during it.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [_Z_EXAMPLE]})

    shift_id: int
    status: str  # "open" (X report) | "closed" (Z report)
    business_date: str  # of opening, in the store's time zone
    opened_at: str
    opened_by: int | None
    closed_at: str | None
    closed_by: int | None
    opening_float: int
    cash_sales: int  # cash applied to orders by the shift's payments (change excluded)
    cash_refunds: int  # cash given back by the shift's refunds
    pay_ins: int
    pay_outs: int
    expected_cash: int  # opening_float + cash_sales - cash_refunds + pay_ins - pay_outs
    counted_cash: int | None
    difference: int | None  # counted_cash - expected_cash (negative: missing)
    card_sales: int
    card_refunds: int
    card_total: int
    other_sales: int
    other_refunds: int
    other_total: int
    cash_total: int
    average_check: int  # net_sales / order_count, half up
    payment_count: int
    cash_movements: list[CashMovementOut]
    per_staff: list[StaffShiftOut]  # a cashier sees only its own row


class ShiftSettingsIn(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{"require_open_shift": True}]})

    require_open_shift: bool


class ShiftSettingsOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{"require_open_shift": False}]})

    require_open_shift: bool


class ShiftsOfDayQuery(Model):
    date: BusinessDate  # the business day the shifts were opened on
    tz: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # for the times shown


class ShiftOfDayOut(Model):
    shift_id: int
    status: str
    opened_at: str
    closed_at: str | None
    opening_float: int
    expected_cash: int | None  # null while open
    counted_cash: int | None
    difference: int | None


class ShiftsOfDayOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "shifts": [
                        {
                            "shift_id": 12,
                            "status": "closed",
                            "opened_at": "2026-12-10T09:00:00+09:00",
                            "closed_at": "2026-12-10T22:05:00+09:00",
                            "opening_float": 100000,
                            "expected_cash": 185000,
                            "counted_cash": 184000,
                            "difference": -1000,
                        }
                    ]
                }
            ]
        }
    )

    shifts: list[ShiftOfDayOut]
