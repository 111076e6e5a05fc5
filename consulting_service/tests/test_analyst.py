"""The offline analyst writes real advice from the figures."""

from __future__ import annotations

import pytest

from consulting_service.app.analyst import analyse, with_particle

from .fakes import FIGURES


def test_advice_names_best_worst_margins_costs_and_days():
    text = analyse(FIGURES)
    assert text.startswith("[매출 정보 분석] 2026-11-16 ~ 2026-11-22")
    assert "총 매출(환불 반영) 262,000원" in text
    # Top by profit, in order.
    top = text.split("[이익을 가장 많이 낸 메뉴]")[1]
    assert top.index("1. 김치찌개") < top.index("2. 제육볶음") < top.index("3. 공기밥")
    # Margins among costed items: 김치찌개 60%, 계란말이 -10%.
    assert "가장 높음: 김치찌개" in text and "가장 낮음: 계란말이" in text
    assert "계란말이: 팔수록 손해입니다" in text
    assert "공기밥: 원가가 없어" in text  # uncosted item called out
    assert "요일" in text and "일요일이 가장 높고" in text  # 2026-11-22 is a Sunday
    assert "전반보다" in text and "늘었습니다" in text
    assert "7일 중 1일은 매출이 없었습니다" in text
    suggestions = text.split("[제안]")[1]
    assert "김치찌개" in suggestions and "계란말이" in suggestions and "원가" in suggestions
    assert "환불 등으로 메뉴 매출 합계보다 10,000원" in text
    # Particles follow each name's last syllable: 김치찌개 has no final consonant, 계란말이 neither.
    assert "효자 메뉴인 김치찌개를 메뉴판" in suggestions
    assert "계란말이는 가격 인상" in suggestions
    assert "(를)" not in text and "(는)" not in text and "(와)" not in text


@pytest.mark.parametrize(
    ("word", "pair", "expected"),
    [
        ("김밥", ("을", "를"), "김밥을"),
        ("아메리카노", ("을", "를"), "아메리카노를"),
        ("제육볶음", ("은", "는"), "제육볶음은"),
        ("라떼", ("은", "는"), "라떼는"),
        ("공기밥", ("이", "가"), "공기밥이"),
        ("우유", ("이", "가"), "우유가"),
        ("된장찌개", ("과", "와"), "된장찌개와"),
        ("국밥", ("과", "와"), "국밥과"),
        ("세트1", ("을", "를"), "세트1을"),  # 일
        ("세트2", ("을", "를"), "세트2를"),  # 이
        ("Latte", ("을", "를"), "Latte을(를)"),  # not decidable from the spelling
        ("", ("은", "는"), "은(는)"),
    ],
)
def test_particle_follows_the_final_consonant(word, pair, expected):
    assert with_particle(word, *pair) == expected


def test_no_sales_still_gives_advice():
    text = analyse({**FIGURES, "sales_volume": 0, "items": [], "days": [], "uncosted_items": []})
    assert "결제된 판매가 없어" in text and "[제안]" in text


def test_single_item_without_days():
    figures = {
        "start_date": "2026-11-23",
        "end_date": "2026-11-23",
        "sales_volume": 5000,
        "items": [
            {"item_id": 9, "name": "커피", "sales_volume": 5000, "profit": 3000, "quantity": 1}
        ],
        "days": [{"date": "2026-11-23", "sales_volume": 5000, "profit": 3000}],
        "uncosted_items": [],
    }
    text = analyse(figures)
    assert "1. 커피 — 이익 3,000원" in text and "[기간 추이]" not in text
