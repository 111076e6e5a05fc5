"""The pricing rules: hand-computed examples and hypothesis properties (integer won only)."""

from __future__ import annotations

import ast
import inspect

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from salesync_common import pricing
from salesync_common.pricing import (
    Discount,
    DiscountTooLarge,
    Figures,
    InvalidPricing,
    Line,
    RefundTooLarge,
    allocate,
    price_order,
    refund_amount,
    refund_lines,
    refund_remaining,
    refundable,
    round_half_up,
    split,
    total_figures,
    vat_of,
)

# ---------------------------------------------------------------------------------------------
# Examples computed by hand


def test_the_cafe_order_by_hand():
    # 아메리카노 4,500 + 샷 추가 500, x2 = 10,000 (VAT)
    # 케이크 6,000 x1 with 10% off "생일" = 6,000 - 600 = 5,400 (VAT)
    # 계란 3,000 x1, exempt
    # order discount 1,000 "단골": left 10,000 / 5,400 / 3,000 = 18,400
    #   floors 543 (543.47), 293 (293.47), 163 (163.04) = 999; 1 won to the largest -> 544
    order = price_order(
        [
            Line(unit_price=4500, option_deltas=(500,), quantity=2, ref="coffee"),
            Line(unit_price=6000, quantity=1, discounts=(Discount("percent", 10, "생일"),)),
            Line(unit_price=3000, quantity=1, tax="exempt"),
        ],
        [Discount("amount", 1000, "단골")],
    )
    coffee, cake, eggs = order.lines
    assert (coffee.ref, cake.ref, eggs.ref) == ("coffee", 1, 2)
    assert (coffee.unit_price, coffee.amount, coffee.order_discount, coffee.net) == (
        5000,
        10000,
        544,
        9456,
    )
    assert (cake.line_discounts, cake.order_discount, cake.discount, cake.net) == (
        (600,),
        293,
        893,
        5107,
    )
    assert (eggs.order_discount, eggs.net) == (163, 2837)
    assert order.order_discounts == (1000,)
    assert (order.subtotal, order.discount_total, order.total) == (19000, 1600, 17400)
    # taxable 9,456 + 5,107 = 14,563; 14,563 / 11 = 1,323.9 -> 1,324; supply 13,239
    assert (order.taxable_total, order.vat, order.supply_value) == (14563, 1324, 13239)
    assert order.exempt_total == 2837
    assert order.totals() == {
        "subtotal": 19000,
        "discount_total": 1600,
        "taxable_total": 14563,
        "vat": 1324,
        "supply_value": 13239,
        "exempt_total": 2837,
        "total": 17400,
    }


def test_plain_first_contract_order():
    # 김밥 3,000 x3 + 라면 4,000: 13,000, VAT 1,181.8 -> 1,182, supply 11,818
    order = price_order([Line(unit_price=3000, quantity=3), Line(unit_price=4000, quantity=1)])
    assert (order.total, order.vat, order.supply_value, order.exempt_total) == (
        13000,
        1182,
        11818,
        0,
    )
    assert order.discount_total == 0


def test_percent_rounds_half_up_and_stacks_on_what_is_left():
    # 10% of 4,995 = 499.5 -> 500; then 10% of 4,495 = 449.5 -> 450
    order = price_order(
        [
            Line(
                unit_price=4995,
                quantity=1,
                discounts=(Discount("percent", 10, "a"), Discount("percent", 10, "b")),
            )
        ]
    )
    assert order.lines[0].line_discounts == (500, 450)
    assert order.total == 4045


def test_vat_rounding_half_up_at_the_boundary():
    assert vat_of(5) == 0  # 0.45
    assert vat_of(6) == 1  # 0.545
    assert vat_of(11_000) == 1000
    assert vat_of(16_500) == 1500  # exactly 1,500
    assert round_half_up(1, 2) == 1 and round_half_up(-1, 2) == -1
    assert round_half_up(7, 2) == 4 and round_half_up(-7, 2) == -4


def test_discount_limits():
    with pytest.raises(DiscountTooLarge) as amount_error:
        price_order([Line(unit_price=1000, quantity=1)], [Discount("amount", 1001, "x")])
    assert amount_error.value.status == 409 and amount_error.value.code == "discount_exceeds_base"
    with pytest.raises(DiscountTooLarge):
        price_order([Line(unit_price=1000, quantity=1, discounts=(Discount("percent", 101, "x"),))])
    # an amount discount equal to the line is allowed and leaves 0, a second one is refused
    full = price_order(
        [Line(unit_price=1000, quantity=1, discounts=(Discount("amount", 1000, "x"),))]
    )
    assert full.total == 0 and full.vat == 0
    with pytest.raises(DiscountTooLarge):
        price_order(
            [Line(unit_price=1000, quantity=1, discounts=(Discount("amount", 1000, "x"),))],
            [Discount("amount", 1, "y")],
        )


@pytest.mark.parametrize(
    ("lines", "discounts"),
    [
        ([Line(unit_price=-1, quantity=1)], []),
        ([Line(unit_price=1000, quantity=0)], []),
        ([Line(unit_price=1000, quantity=1, option_deltas=(-1001,))], []),
        ([Line(unit_price=1000, quantity=1, tax="zero")], []),  # type: ignore[arg-type]
        ([Line(unit_price=1000, quantity=1, ref=1), Line(unit_price=1, quantity=1, ref=1)], []),
        ([Line(unit_price=1000, quantity=1)], [Discount("amount", 0, "zero")]),
        ([Line(unit_price=1000, quantity=1)], [Discount("amount", 10, " ")]),
        ([Line(unit_price=1000, quantity=1)], [Discount("fixed", 10, "x")]),  # type: ignore[arg-type]
        ([Line(unit_price=1000.0, quantity=1)], []),  # type: ignore[arg-type]
        ([Line(unit_price=1000, quantity=True)], []),
    ],
)
def test_invalid_input_is_422(lines, discounts):
    with pytest.raises(InvalidPricing) as error:
        price_order(lines, discounts)
    assert error.value.status == 422


def test_negative_option_delta_is_a_cheaper_option():
    order = price_order([Line(unit_price=5000, quantity=2, option_deltas=(-500, 1000))])
    assert order.lines[0].unit_price == 5500 and order.total == 11000


def test_allocation_remainder_to_largest_line_with_ties_to_the_earliest():
    assert allocate(100, [300, 300, 300]) == (34, 33, 33)
    assert allocate(5, [1, 4, 4]) == (0, 3, 2)  # floors 0, 2, 2; remainder 1 -> first 4
    # the remainder spills to the next largest instead of pushing a line below zero
    assert allocate(2, [1, 1, 1]) == (1, 1, 0)
    with pytest.raises(DiscountTooLarge):
        allocate(4, [1, 1, 1])


def test_split_examples():
    assert split(10000, 3) == (3334, 3333, 3333)
    assert split(10, 4) == (3, 3, 2, 2)
    assert split(0, 2) == (0, 0)
    assert split(7, 1) == (7,)
    with pytest.raises(InvalidPricing):
        split(100, 0)
    with pytest.raises(InvalidPricing):
        split(-1, 2)


def test_refunds_by_hand():
    # 11,000 taxable (VAT 1,000) + 5,000 exempt = 16,000 paid
    order = price_order(
        [
            Line(unit_price=5500, quantity=2, ref=10),
            Line(unit_price=5000, quantity=1, tax="exempt", ref=11),
        ]
    )
    assert (order.taxable_total, order.vat, order.exempt_total) == (11000, 1000, 5000)
    # 4,000 by amount: taxable 4,000 x 11,000 / 16,000 = 2,750, exempt 1,250;
    # taxable left 8,250 -> VAT left 750, so the refund's VAT is 250
    first = refund_amount(order, [], 4000)
    assert (first.taxable_total, first.exempt_total, first.vat, first.supply_value) == (
        2750,
        1250,
        250,
        2500,
    )
    # one unit of line 10: 5,500 of its net 11,000 for 2 units; taxable left 8,250 -> 2,750:
    # VAT left 750 -> 250, refund VAT 500
    second = refund_lines(order, [first], {10: 1})
    assert (second.taxable_total, second.exempt_total, second.vat) == (5500, 0, 500)
    assert second.lines[0].amount == 5500
    # the second unit would need 5,500 taxable but only 2,750 is left: its money went back
    with pytest.raises(RefundTooLarge):
        refund_lines(order, [first, second], {10: 1})
    with pytest.raises(RefundTooLarge):
        refund_amount(order, [first, second], 6501)
    rest = refund_remaining(order, [first, second])
    assert (rest.taxable_total, rest.exempt_total, rest.vat) == (2750, 3750, 250)
    assert first.vat + second.vat + rest.vat == order.vat
    with pytest.raises(RefundTooLarge):
        refund_remaining(order, [first, second, rest])


def test_refund_units_of_a_line_share_its_net_exactly():
    order = price_order(
        [Line(unit_price=10000, quantity=3, discounts=(Discount("amount", 1, "x"),))]
    )
    # net 29,999 for 3 units: 9,999.67 -> 10,000; then 19,999 / 2 = 9,999.5 -> 10,000; last 9,999
    one = refund_lines(order, [], {0: 1})
    two = refund_lines(order, [one], {0: 1})
    three = refund_lines(order, [one, two], {0: 1})
    assert [r.total for r in (one, two, three)] == [10000, 10000, 9999]
    assert sum(r.vat for r in (one, two, three)) == order.vat
    with pytest.raises(RefundTooLarge):
        refund_lines(order, [one, two, three], {0: 1})
    with pytest.raises(InvalidPricing):
        refund_lines(order, [], {"unknown": 1})


def test_refund_refuses_figures_from_elsewhere():
    order = price_order([Line(unit_price=1100, quantity=1)])
    forged = pricing.Refund(taxable_total=1100, exempt_total=0, vat=99)
    with pytest.raises(InvalidPricing):
        refundable(order, [forged])
    with pytest.raises(InvalidPricing):
        refund_amount(order, [], 0)


def test_day_figures_by_hand():
    order = price_order(
        [Line(unit_price=11000, quantity=1), Line(unit_price=2000, quantity=1, tax="exempt")],
        [Discount("amount", 1300, "쿠폰")],
    )
    refund = refund_amount(order, [], 1170)
    day = Figures.of_sale(order) + Figures.of_refund(refund)
    assert (day.gross_sales, day.discount_total, day.refund_total) == (13000, 1300, 1170)
    assert day.net_sales == 10530 == day.taxable_total + day.exempt_total
    assert day.vat == order.vat - refund.vat
    assert day.average_check == 10530


def test_no_float_anywhere_in_the_module():
    tree = ast.parse(inspect.getsource(pricing))
    floats = [
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.Constant) and isinstance(node.value, float))
        or isinstance(node, ast.Div)
        or (isinstance(node, ast.Name) and node.id in {"float", "Decimal"})
    ]
    assert floats == []


# ---------------------------------------------------------------------------------------------
# Properties


def discount_strategy(amount_max: int) -> st.SearchStrategy[Discount]:
    return st.one_of(
        st.builds(Discount, st.just("percent"), st.integers(1, 100), st.just("r")),
        st.builds(Discount, st.just("amount"), st.integers(1, amount_max), st.just("r")),
    )


def line_strategy(price_max: int, quantity_max: int, delta_max: int) -> st.SearchStrategy[Line]:
    return st.builds(
        Line,
        unit_price=st.integers(0, price_max),
        quantity=st.integers(1, quantity_max),
        tax=st.sampled_from(["vat", "exempt"]),
        option_deltas=st.lists(st.integers(-delta_max, delta_max), max_size=3).map(tuple),
        discounts=st.lists(discount_strategy(max(1, price_max // 4)), max_size=2).map(tuple),
    )


def priced(line_list, order_discounts):
    try:
        return price_order(line_list, order_discounts)
    except (DiscountTooLarge, InvalidPricing):  # a discount above its base, a negative option
        assume(False)
        raise


def order_strategy(price_max: int, quantity_max: int, delta_max: int) -> st.SearchStrategy:
    return st.builds(
        priced,
        st.lists(line_strategy(price_max, quantity_max, delta_max), min_size=1, max_size=8),
        st.lists(discount_strategy(max(1, price_max)), max_size=3),
    )


discounts = discount_strategy(50_000)
# tiny figures too: that is where remainders and rounding bite
orders = st.one_of(order_strategy(12, 3, 2), order_strategy(2_000_000, 50, 5000))


@settings(deadline=None)  # a shared 2-core machine: no per-example deadline
@given(orders)
def test_lines_sum_to_totals(order):
    assert sum(line.net for line in order.lines) == order.total
    assert sum(line.amount for line in order.lines) == order.subtotal
    assert sum(line.discount for line in order.lines) == order.discount_total
    assert order.subtotal - order.discount_total == order.total
    assert order.taxable_total == sum(line.net for line in order.lines if line.tax == "vat")
    assert order.exempt_total == sum(line.net for line in order.lines if line.tax == "exempt")
    assert sum(order.order_discounts) == sum(line.order_discount for line in order.lines)
    assert order.vat + order.supply_value == order.taxable_total
    assert order.vat == round_half_up(order.taxable_total, 11)
    assert all(isinstance(value, int) for value in (order.vat, order.total, order.subtotal))


@settings(deadline=None)  # a shared 2-core machine: no per-example deadline
@given(orders)
def test_no_line_goes_negative(order):
    for line in order.lines:
        assert 0 <= line.net <= line.amount
        assert line.order_discount >= 0 and all(d >= 0 for d in line.line_discounts)


@settings(deadline=None)  # a shared 2-core machine: no per-example deadline
@given(
    st.one_of(
        st.lists(st.integers(0, 5), min_size=1, max_size=12),
        st.lists(st.integers(0, 1_000_000), min_size=1, max_size=12),
    ),
    st.data(),
)
def test_allocation_is_exact_and_bounded(weights, data):
    amount = data.draw(st.integers(0, sum(weights)))
    shares = allocate(amount, weights)
    assert sum(shares) == amount
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))
    # proportional: every share is within the remainder's reach of its exact value
    if sum(weights):
        for share, weight in zip(shares, weights, strict=True):
            assert abs(share * sum(weights) - amount * weight) < len(weights) * sum(weights)


@settings(deadline=None)  # a shared 2-core machine: no per-example deadline
@given(st.integers(0, 10_000_000), discounts)
def test_a_discount_never_exceeds_its_base(base, discount):
    try:
        taken = discount.amount_on(base)
    except DiscountTooLarge:
        assert discount.kind == "amount" and discount.value > base
        return
    assert 0 <= taken <= base
    if discount.kind == "percent":
        assert taken == round_half_up(base * discount.value, 100)


@settings(deadline=None)  # a shared 2-core machine: no per-example deadline
@given(st.integers(0, 10_000_000), st.integers(1, 500))
def test_split_shares_sum_and_differ_by_at_most_one(balance, ways):
    shares = split(balance, ways)
    assert len(shares) == ways and sum(shares) == balance
    assert max(shares) - min(shares) <= 1
    assert shares[0] == max(shares)


@settings(deadline=None, max_examples=200)
@given(orders, st.data())
def test_refunds_never_exceed_paid_and_reverse_exactly(order, data):
    assume(order.total > 0)
    done: list[pricing.Refund] = []
    for _ in range(data.draw(st.integers(0, 6), label="partial refunds")):
        left = refundable(order, done)
        if left.total == 0:
            break
        if data.draw(st.booleans(), label="by lines"):
            choice = {
                line.ref: data.draw(st.integers(1, line.quantity), label="units")
                for line in order.lines
                if data.draw(st.booleans(), label="line")
            }
            if not choice:
                continue
            try:
                refund = refund_lines(order, done, choice)
            except RefundTooLarge:
                continue
        else:
            asked = data.draw(st.integers(1, left.total + 10), label="amount")
            if asked > left.total:
                with pytest.raises(RefundTooLarge):
                    refund_amount(order, done, asked)
                continue
            refund = refund_amount(order, done, asked)
        assert refund.total <= left.total
        assert 0 <= refund.taxable_total <= left.taxable_total
        assert 0 <= refund.exempt_total <= left.exempt_total
        assert 0 <= refund.vat <= refund.taxable_total
        assert refund.vat + refund.supply_value == refund.taxable_total
        done.append(refund)
    if refundable(order, done).total:
        done.append(refund_remaining(order, done))
    assert sum(r.total for r in done) == order.total
    assert sum(r.taxable_total for r in done) == order.taxable_total
    assert sum(r.exempt_total for r in done) == order.exempt_total
    assert sum(r.vat for r in done) == order.vat
    assert sum(r.supply_value for r in done) == order.supply_value
    with pytest.raises(RefundTooLarge):
        refund_amount(order, done, 1)


@settings(deadline=None)  # a shared 2-core machine: no per-example deadline
@given(st.lists(orders, min_size=1, max_size=5), st.data())
def test_day_figures_add_up(day_orders, data):
    parts = []
    for order in day_orders:
        parts.append(Figures.of_sale(order))
        left = refundable(order)
        if left.total and data.draw(st.booleans()):
            refund = refund_amount(order, [], data.draw(st.integers(1, left.total)))
            parts.append(Figures.of_refund(refund))
    day = total_figures(parts)
    assert day.net_sales == day.gross_sales - day.discount_total - day.refund_total
    assert day.net_sales == day.taxable_total + day.exempt_total
    assert day.vat + day.supply_value == day.taxable_total
    assert day.order_count == len(day_orders)
    assert day.vat == sum(p.vat for p in parts)


def test_services_answer_pricing_refusals_in_the_error_shape():
    from flask import Flask

    from salesync_common.errors import register_error_handlers

    app = Flask(__name__)
    register_error_handlers(app)

    @app.get("/discount")
    def discount() -> dict:
        price_order([Line(unit_price=1000, quantity=1)], [Discount("amount", 2000, "x")])
        return {}

    @app.get("/split")
    def split_view() -> dict:
        split(100, 0)
        return {}

    refused = app.test_client().get("/discount")
    assert refused.status_code == 409
    assert refused.json["result"] == "failed"
    assert refused.json["error"]["code"] == "discount_exceeds_base"
    assert refused.json["error"]["fields"] == {"value": refused.json["message"]}
    invalid = app.test_client().get("/split")
    assert invalid.status_code == 422 and invalid.json["error"]["code"] == "invalid_pricing"
