"""Money at the till: the one statement of Salesync's pricing rules (pure functions, integer won).

Order totals, receipts, refunds and every report compute money here and nowhere else: OSPOS
#1163 and #4112 are what happens when the register and the reports each do their own sums. No
I/O, no floats (not even for percentages), no rounding anywhere but :func:`round_half_up`.

Rules
-----
1. **Prices are VAT-included** (Korean consumer prices). Each line is ``tax="vat"`` (10 % VAT
   included) or ``tax="exempt"`` (면세).
2. **Unit price** = the item's price + the ``price_delta`` of every chosen option (a delta may be
   negative; the unit price may not). A line's ``amount`` = unit price x quantity.
3. **Discounts** are ``percent`` (an integer 1-100) or ``amount`` (won, >= 1), each with a reason,
   on a line or on the order. A discount applies to what is left at its turn: line discounts in
   their order to the line's amount, then order discounts in their order to what is left of the
   whole order. A discount may not exceed what it applies to (:class:`DiscountTooLarge`); a
   percent discount is ``round_half_up(base x percent / 100)``, so 100 % is exactly the base.
4. **Allocation**: each order discount is shared over the lines in proportion to what is left of
   them (each line gets the floor of its exact share); the remainder won go to the largest line
   (ties: the earliest line), spilling to the next largest only if a line would go below zero.
   Every line's ``net`` is therefore >= 0 and the per-line figures sum exactly to the order's, so
   per-item reports always add up to the orders' totals.
5. **Taxes per order**: ``taxable_total`` = Σ net of the VAT lines, ``exempt_total`` = Σ net of
   the exempt lines, ``vat = round_half_up(taxable_total / 11)``, ``supply_value =
   taxable_total - vat``, ``total = taxable_total + exempt_total = subtotal - discount_total``.
   VAT is computed once per order (never per line then summed: that is where cents drift).
6. **Split (더치페이)**: :func:`split` gives N shares summing exactly to the balance; the
   remainder won are carried by the first shares, one won each, so shares differ by at most 1 won
   and the first share is never smaller than another.
7. **Refunds** never exceed what was paid less what was already refunded (:class:`RefundTooLarge`),
   and each refund carries its own ``taxable_total``/``exempt_total``/``vat``:

   - by **lines**: the refunded units' share of each line's net (the remaining net of the line in
     proportion to the remaining units, half up; the last unit takes exactly what is left);
   - by **amount**: split over taxable and exempt in proportion to what is left of each,
     ``taxable = round_half_up(amount x taxable_left / total_left)``, the rest exempt;
   - its **VAT** is whatever keeps the kept part of the sale exact: ``vat_left_before -
     round_half_up(taxable_left_after / 11)``. After any sequence of refunds the sale's remaining
     VAT is the VAT of its remaining taxable amount, and refunds summing to the paid total
     reverse exactly the order's VAT, supply value and exempt total.
8. **A day's figures** (:class:`Figures`): gross − discounts − refunds = net sales =
   taxable + exempt (both net of refunds); VAT = VAT of sales − VAT of refunds; supply value =
   taxable − VAT.

Errors are :class:`PricingError` subclasses carrying the HTTP ``status`` (409 for a business
refusal, 422 for input no caller should send) and a ``code``; the shared error handlers render
them in the one JSON error shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeVar

Tax = Literal["vat", "exempt"]
DiscountKind = Literal["percent", "amount"]
LineRef = int | str
# One order's refs are all of one kind: a caller's {line id: quantity} is a Mapping[int, int].
Ref = TypeVar("Ref", bound=LineRef)

TAXES: tuple[Tax, ...] = ("vat", "exempt")
DISCOUNT_KINDS: tuple[DiscountKind, ...] = ("percent", "amount")
VAT_DIVISOR = 11  # VAT-included price: VAT = price x 10/110
MAX_PERCENT = 100


# ---------------------------------------------------------------------------------------------
# Errors


class PricingError(Exception):
    """A pricing rule refused the input; ``status``/``code`` say how an API answers it."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid_pricing"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidPricing(PricingError):
    """Input no validated request can produce (negative price, zero quantity, unknown line)."""


class DiscountTooLarge(PricingError):
    """A discount exceeds what it applies to (or a percent above 100)."""

    status = 409
    code = "discount_exceeds_base"


class RefundTooLarge(PricingError):
    """A refund exceeds what was paid less what was already refunded."""

    status = 409
    code = "refund_exceeds_paid"


# ---------------------------------------------------------------------------------------------
# Arithmetic


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves away from zero.

    Integers only. For a negative numerator it mirrors the positive figure, so a refund rounds to
    exactly the opposite of the sale it reverses.
    """
    if denominator <= 0:
        raise InvalidPricing("denominator must be positive")
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return magnitude if numerator >= 0 else -magnitude


def vat_of(taxable_total: int) -> int:
    """The VAT included in a VAT-included amount: ``round_half_up(taxable_total / 11)``."""
    return round_half_up(taxable_total, VAT_DIVISOR)


def _require_int(value: object, name: str, minimum: int) -> int:
    # bool is an int in Python; money and counts never are
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidPricing(f"{name} must be an integer", field=name)
    if value < minimum:
        raise InvalidPricing(f"{name} must be at least {minimum}", field=name)
    return value


# ---------------------------------------------------------------------------------------------
# Inputs and results


@dataclass(frozen=True)
class Discount:
    """A discount as entered: ``percent`` (1-100) or ``amount`` (won), with its reason."""

    kind: DiscountKind
    value: int
    reason: str

    def amount_on(self, base: int) -> int:
        """What this discount takes off ``base``; refuses to exceed it."""
        if self.kind not in DISCOUNT_KINDS:
            raise InvalidPricing(f"unknown discount kind {self.kind!r}", field="kind")
        value = _require_int(self.value, "value", 1)
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise InvalidPricing("a discount needs a reason", field="reason")
        if self.kind == "percent":
            if value > MAX_PERCENT:
                raise DiscountTooLarge("할인율은 100%를 넘을 수 없습니다.", field="value")
            return round_half_up(base * value, MAX_PERCENT)
        if value > base:
            raise DiscountTooLarge(
                f"할인 금액({value}원)이 적용 대상 금액({base}원)을 초과합니다.", field="value"
            )
        return value


@dataclass(frozen=True)
class Line:
    """An order line as the order holds it (price snapshots, not live menu prices).

    ``ref`` identifies the line in results and line refunds (an order line id); by default its
    position in the order.
    """

    unit_price: int
    quantity: int
    tax: Tax = "vat"
    option_deltas: tuple[int, ...] = ()
    discounts: tuple[Discount, ...] = ()
    ref: LineRef | None = None


@dataclass(frozen=True, kw_only=True)
class TaxBreakdown:
    """VAT-included money split the way a receipt and the tax office need it."""

    taxable_total: int
    exempt_total: int
    vat: int

    @property
    def supply_value(self) -> int:
        return self.taxable_total - self.vat

    @property
    def total(self) -> int:
        return self.taxable_total + self.exempt_total

    def breakdown(self) -> dict[str, int]:
        """The tax fields as the API names them (orders, receipts, refunds, reports alike)."""
        return {
            "taxable_total": self.taxable_total,
            "vat": self.vat,
            "supply_value": self.supply_value,
            "exempt_total": self.exempt_total,
            "total": self.total,
        }


@dataclass(frozen=True, kw_only=True)
class PricedLine:
    """One line's figures: ``amount`` (unit price x quantity) less its discounts is ``net``."""

    ref: LineRef
    unit_price: int
    quantity: int
    tax: Tax
    amount: int
    line_discounts: tuple[int, ...]  # one per Line.discounts, in order
    order_discount: int  # this line's share of the order-level discounts

    @property
    def discount(self) -> int:
        return sum(self.line_discounts) + self.order_discount

    @property
    def net(self) -> int:
        return self.amount - self.discount


@dataclass(frozen=True, kw_only=True)
class PricedOrder(TaxBreakdown):
    """An order's figures: lines, discounts and the tax breakdown of its ``total``."""

    lines: tuple[PricedLine, ...]
    order_discounts: tuple[int, ...]  # one per order-level discount, in order
    subtotal: int  # Σ line amounts, before any discount
    discount_total: int  # every line and order discount

    def totals(self) -> dict[str, int]:
        """``subtotal``, ``discount_total`` and the tax breakdown, as the API names them."""
        return {
            "subtotal": self.subtotal,
            "discount_total": self.discount_total,
            **self.breakdown(),
        }


@dataclass(frozen=True, kw_only=True)
class RefundedLine:
    ref: LineRef
    quantity: int
    amount: int


@dataclass(frozen=True, kw_only=True)
class Refund(TaxBreakdown):
    """One refund: ``total`` is the money returned; ``lines`` is empty for a refund by amount."""

    lines: tuple[RefundedLine, ...] = ()


# ---------------------------------------------------------------------------------------------
# Orders


def allocate(amount: int, weights: Sequence[int]) -> tuple[int, ...]:
    """Share ``amount`` over ``weights`` in proportion, exactly, never above a weight.

    Each share is the floor of its exact proportion; the remainder won go to the largest weight
    (ties: the earliest), then to the next largest when a share would exceed its weight.
    """
    for weight in weights:
        _require_int(weight, "weight", 0)
    _require_int(amount, "amount", 0)
    whole = sum(weights)
    if amount > whole:
        raise DiscountTooLarge(f"{amount}원을 {whole}원에 배분할 수 없습니다.")
    if amount == 0:
        return tuple(0 for _ in weights)
    shares = [amount * weight // whole for weight in weights]
    remainder = amount - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        if remainder == 0:
            break
        extra = min(remainder, weights[index] - shares[index])
        shares[index] += extra
        remainder -= extra
    return tuple(shares)


def price_order(lines: Sequence[Line], order_discounts: Sequence[Discount] = ()) -> PricedOrder:
    """Price an order (rules 1-5). Raises :class:`DiscountTooLarge` or :class:`InvalidPricing`.

    Callers re-price after every change (lines, options, discounts) and refuse a change that
    makes this raise, so a stored discount never exceeds what it applies to.
    """
    refs: set[LineRef] = set()
    amounts: list[int] = []
    line_discounts: list[tuple[int, ...]] = []
    for position, line in enumerate(lines):
        if line.tax not in TAXES:
            raise InvalidPricing(f"unknown tax {line.tax!r}", field="tax")
        ref = position if line.ref is None else line.ref
        if ref in refs:
            raise InvalidPricing(f"duplicate line ref {ref!r}", field="ref")
        refs.add(ref)
        unit_price = _unit_price(line)
        amount = unit_price * _require_int(line.quantity, "quantity", 1)
        taken: list[int] = []
        for discount in line.discounts:
            taken.append(discount.amount_on(amount - sum(taken)))
        amounts.append(amount)
        line_discounts.append(tuple(taken))

    left = [amount - sum(taken) for amount, taken in zip(amounts, line_discounts, strict=True)]
    order_shares = [0] * len(lines)
    order_amounts: list[int] = []
    for discount in order_discounts:
        value = discount.amount_on(sum(left))
        shares = allocate(value, left)
        left = [rest - share for rest, share in zip(left, shares, strict=True)]
        order_shares = [done + share for done, share in zip(order_shares, shares, strict=True)]
        order_amounts.append(value)

    priced = tuple(
        PricedLine(
            ref=position if line.ref is None else line.ref,
            unit_price=_unit_price(line),
            quantity=line.quantity,
            tax=line.tax,
            amount=amounts[position],
            line_discounts=line_discounts[position],
            order_discount=order_shares[position],
        )
        for position, line in enumerate(lines)
    )
    taxable = sum(line.net for line in priced if line.tax == "vat")
    exempt = sum(line.net for line in priced if line.tax == "exempt")
    subtotal = sum(amounts)
    return PricedOrder(
        lines=priced,
        order_discounts=tuple(order_amounts),
        subtotal=subtotal,
        discount_total=subtotal - taxable - exempt,
        taxable_total=taxable,
        exempt_total=exempt,
        vat=vat_of(taxable),
    )


def _unit_price(line: Line) -> int:
    price = _require_int(line.unit_price, "unit_price", 0)
    for delta in line.option_deltas:
        price += _require_int(delta, "price_delta", -(10**12))
    if price < 0:
        raise InvalidPricing("options may not make a price negative", field="options")
    return price


def split(balance: int, ways: int) -> tuple[int, ...]:
    """``ways`` shares summing to ``balance``; the first ``balance % ways`` carry one won more."""
    _require_int(balance, "balance", 0)
    _require_int(ways, "ways", 1)
    share, remainder = divmod(balance, ways)
    return tuple(share + 1 if index < remainder else share for index in range(ways))


# ---------------------------------------------------------------------------------------------
# Refunds


def refundable(paid: TaxBreakdown, previous: Iterable[Refund] = ()) -> TaxBreakdown:
    """What is left of a paid sale after ``previous`` refunds (its taxable, exempt and VAT)."""
    if paid.vat != vat_of(paid.taxable_total) or min(paid.taxable_total, paid.exempt_total) < 0:
        raise InvalidPricing("the paid figures were not computed by price_order")
    taxable, exempt, vat = paid.taxable_total, paid.exempt_total, paid.vat
    for refund in previous:
        taxable -= refund.taxable_total
        exempt -= refund.exempt_total
        vat -= refund.vat
    if min(taxable, exempt) < 0 or vat != vat_of(taxable):
        raise InvalidPricing("the previous refunds were not computed by this module")
    return TaxBreakdown(taxable_total=taxable, exempt_total=exempt, vat=vat)


def _refund(
    left: TaxBreakdown, taxable: int, exempt: int, lines: tuple[RefundedLine, ...]
) -> Refund:
    # the VAT that keeps the rest of the sale exact: what is left must be vat_of(what is left)
    vat = left.vat - vat_of(left.taxable_total - taxable)
    return Refund(taxable_total=taxable, exempt_total=exempt, vat=vat, lines=lines)


def refund_amount(paid: TaxBreakdown, previous: Iterable[Refund], amount: int) -> Refund:
    """Refund ``amount`` won of a paid sale (rule 7, by amount)."""
    left = refundable(paid, previous)
    _require_int(amount, "amount", 1)
    if amount > left.total:
        raise RefundTooLarge(
            f"환불 금액({amount}원)이 환불 가능 금액({left.total}원)을 초과합니다.", field="amount"
        )
    taxable = round_half_up(amount * left.taxable_total, left.total)
    return _refund(left, taxable, amount - taxable, ())


def refund_remaining(paid: TaxBreakdown, previous: Iterable[Refund] = ()) -> Refund:
    """Refund everything not refunded yet (a full refund after any partial ones)."""
    previous = tuple(previous)
    left = refundable(paid, previous)
    if left.total == 0:
        raise RefundTooLarge("이미 전액 환불되었습니다.")
    return refund_amount(paid, previous, left.total)


def refund_lines(
    order: PricedOrder, previous: Iterable[Refund], quantities: Mapping[Ref, int]
) -> Refund:
    """Refund units of lines, ``{line ref: quantity}`` (rule 7, by lines).

    A line's units go back at their share of its net (discounts included). Refusals: more units
    than are left of a line, or lines whose money an earlier refund by amount already returned
    (the taxable or exempt part left would go negative). A fully discounted line refunds 0 won.
    """
    previous = tuple(previous)
    left = refundable(order, previous)
    if not quantities:
        raise InvalidPricing("no line to refund", field="lines")
    by_ref = {line.ref: line for line in order.lines}
    refunded: list[RefundedLine] = []
    taxable = exempt = 0
    for ref, quantity in quantities.items():
        line = by_ref.get(ref)
        if line is None:
            raise InvalidPricing(f"no line {ref!r} in this order", field="lines")
        _require_int(quantity, "quantity", 1)
        done = [item for refund in previous for item in refund.lines if item.ref == ref]
        units_left = line.quantity - sum(item.quantity for item in done)
        net_left = line.net - sum(item.amount for item in done)
        if quantity > units_left:
            raise RefundTooLarge(
                f"환불 가능한 수량({units_left})을 초과합니다.", field="lines.quantity"
            )
        amount = (
            net_left if quantity == units_left else round_half_up(net_left * quantity, units_left)
        )
        refunded.append(RefundedLine(ref=ref, quantity=quantity, amount=amount))
        if line.tax == "vat":
            taxable += amount
        else:
            exempt += amount
    if taxable > left.taxable_total or exempt > left.exempt_total:
        raise RefundTooLarge("이 품목의 금액은 이미 환불되었습니다.", field="lines")
    return _refund(left, taxable, exempt, tuple(refunded))


# ---------------------------------------------------------------------------------------------
# Reports


@dataclass(frozen=True, kw_only=True)
class Figures:
    """Sales figures of any period or group (a day, a shift, a staff member, a category).

    Built by adding :meth:`of_sale` and :meth:`of_refund` (or from the same columns summed in
    SQL). ``net_sales = gross_sales - discount_total - refund_total = taxable_total +
    exempt_total``; ``taxable_total``, ``exempt_total`` and ``vat`` are net of refunds.
    """

    gross_sales: int = 0
    discount_total: int = 0
    refund_total: int = 0
    taxable_total: int = 0
    exempt_total: int = 0
    vat: int = 0
    order_count: int = 0

    @classmethod
    def of_sale(cls, order: PricedOrder) -> Figures:
        return cls(
            gross_sales=order.subtotal,
            discount_total=order.discount_total,
            taxable_total=order.taxable_total,
            exempt_total=order.exempt_total,
            vat=order.vat,
            order_count=1,
        )

    @classmethod
    def of_refund(cls, refund: Refund) -> Figures:
        return cls(
            refund_total=refund.total,
            taxable_total=-refund.taxable_total,
            exempt_total=-refund.exempt_total,
            vat=-refund.vat,
        )

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            gross_sales=self.gross_sales + other.gross_sales,
            discount_total=self.discount_total + other.discount_total,
            refund_total=self.refund_total + other.refund_total,
            taxable_total=self.taxable_total + other.taxable_total,
            exempt_total=self.exempt_total + other.exempt_total,
            vat=self.vat + other.vat,
            order_count=self.order_count + other.order_count,
        )

    @property
    def net_sales(self) -> int:
        return self.gross_sales - self.discount_total - self.refund_total

    @property
    def supply_value(self) -> int:
        return self.taxable_total - self.vat

    @property
    def average_check(self) -> int:
        """Net sales per order, half up (0 with no order)."""
        return round_half_up(self.net_sales, self.order_count) if self.order_count else 0


def total_figures(parts: Iterable[Figures]) -> Figures:
    result = Figures()
    for part in parts:
        result = result + part
    return result
