"""The built-in rule-based analyst: real advice from the figures when no model key is set.

A pure function of the dashboard's ``sales-report`` figures (items with sales/profit/quantity,
days, uncosted items), written in Korean like the model's answer would be.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

MODEL_NAME = "offline-analyst"
WEEKDAYS = ("월", "화", "수", "목", "금", "토", "일")


_HANGUL_FIRST, _HANGUL_LAST, _FINALS = 0xAC00, 0xD7A3, 28
_DIGITS_WITH_FINAL = set("013678")  # 영 일 삼 육 칠 팔 end in a consonant; 이 사 오 구 do not


def with_particle(word: str, after_consonant: str, after_vowel: str) -> str:
    """``word`` and the particle its last syllable takes: 을/를, 은/는, 이/가, 과/와.

    A last syllable with a final consonant (받침) takes the first form (``김밥을``), one without
    the second (``아메리카노를``); a trailing digit is read in Korean (``세트1을``). Anything else
    (Latin letters, symbols) cannot be decided from the spelling: both forms, ``latte을(를)``.
    """
    last = word.rstrip()[-1:] or " "
    if _HANGUL_FIRST <= ord(last) <= _HANGUL_LAST:
        has_final = (ord(last) - _HANGUL_FIRST) % _FINALS != 0
    elif last.isdigit() and last.isascii():
        has_final = last in _DIGITS_WITH_FINAL
    else:
        return f"{word}{after_consonant}({after_vowel})"
    return word + (after_consonant if has_final else after_vowel)


def _won(amount: int) -> str:
    return f"{amount:,}원"


def _margin(item: dict[str, Any]) -> float:
    volume = int(item["sales_volume"])
    return int(item["profit"]) / volume * 100 if volume > 0 else 0.0


def _describe(item: dict[str, Any]) -> str:
    return (
        f"{item['name']} — 이익 {_won(int(item['profit']))} "
        f"(매출 {_won(int(item['sales_volume']))}, {int(item['quantity'])}개, "
        f"이익률 {_margin(item):.1f}%)"
    )


def _day_notes(days: list[dict[str, Any]]) -> list[str]:
    selling = [d for d in days if int(d["sales_volume"]) > 0]
    if len(days) < 2 or not selling:
        return []
    notes: list[str] = []
    by_weekday: dict[int, list[int]] = defaultdict(list)
    for day in days:
        by_weekday[date.fromisoformat(day["date"]).weekday()].append(int(day["sales_volume"]))
    if len(days) >= 7:
        averages = {wd: sum(v) / len(v) for wd, v in by_weekday.items()}
        best = max(averages, key=lambda wd: averages[wd])
        worst = min(averages, key=lambda wd: averages[wd])
        if averages[best] > averages[worst]:
            notes.append(
                f"- 요일별 평균 매출은 {WEEKDAYS[best]}요일이 가장 높고 "
                f"({_won(round(averages[best]))}), {WEEKDAYS[worst]}요일이 가장 낮습니다 "
                f"({_won(round(averages[worst]))})."
            )
    half = len(days) // 2
    first = sum(int(d["sales_volume"]) for d in days[:half])
    second = sum(int(d["sales_volume"]) for d in days[half:])
    if first > 0:
        change = (second - first) / first * 100
        trend = "늘었습니다" if change > 0 else "줄었습니다"
        if abs(change) >= 5:
            notes.append(f"- 기간 후반의 매출이 전반보다 {abs(change):.0f}% {trend}.")
        else:
            notes.append("- 기간 전반과 후반의 매출이 비슷하게 유지되었습니다.")
    empty = len(days) - len(selling)
    if empty:
        notes.append(f"- {len(days)}일 중 {empty}일은 매출이 없었습니다.")
    return notes


def analyse(figures: dict[str, Any]) -> str:
    """Korean advice for a period's figures (top/bottom items, margins, costs, suggestions)."""
    items = [dict(item) for item in figures.get("items", [])]
    period = f"{figures.get('start_date')} ~ {figures.get('end_date')}"
    total = int(figures.get("sales_volume", 0))
    uncosted_ids = set(figures.get("uncosted_items", []))
    lines = [f"[매출 정보 분석] {period}"]
    if not items:
        lines += [
            "- 이 기간에는 결제된 판매가 없어 분석할 매출 정보가 없습니다.",
            "",
            "[제안]",
            "- 대표 메뉴 한두 가지를 정해 첫 방문 고객 할인이나 시식 이벤트로 알려 보세요.",
            "- 메뉴별 원가를 미리 등록해 두면 다음 분석에서 이익을 정확히 계산할 수 있습니다.",
        ]
        return "\n".join(lines)

    item_sales = sum(int(i["sales_volume"]) for i in items)
    profit = sum(int(i["profit"]) for i in items)
    margin = profit / item_sales * 100 if item_sales else 0.0
    lines.append(
        f"- 총 매출(환불 반영) {_won(total)}, 메뉴 {len(items)}종 판매, "
        f"순이익 합계 {_won(profit)} (이익률 {margin:.1f}%)."
    )
    if item_sales > total:
        lines.append(
            f"- 환불 등으로 메뉴 매출 합계보다 {_won(item_sales - total)} 적게 남았습니다."
        )

    by_profit = sorted(items, key=lambda i: (-int(i["profit"]), i["name"]))
    lines += ["", "[이익을 가장 많이 낸 메뉴]"]
    lines += [f"{rank}. {_describe(item)}" for rank, item in enumerate(by_profit[:3], 1)]

    costed = [i for i in items if i["item_id"] not in uncosted_ids and int(i["sales_volume"]) > 0]
    if len(costed) >= 2:
        by_margin = sorted(costed, key=lambda i: (-_margin(i), i["name"]))
        lines += [
            "",
            "[이익률]",
            f"- 가장 높음: {_describe(by_margin[0])}",
            f"- 가장 낮음: {_describe(by_margin[-1])}",
        ]

    weak = [i for i in by_profit[::-1] if i not in by_profit[:3]][:3]
    losing = [i for i in items if int(i["profit"]) < 0]
    if weak or losing:
        lines += ["", "[주의가 필요한 메뉴]"]
        for item in losing:
            lines.append(f"- {item['name']}: 팔수록 손해입니다 ({_describe(item)}).")
        for item in weak:
            if item not in losing:
                lines.append(f"- 이익 하위: {_describe(item)}")

    uncosted = [i for i in items if i["item_id"] in uncosted_ids]
    if uncosted:
        names = ", ".join(str(i["name"]) for i in uncosted)
        lines += [
            "",
            "[원가 미등록]",
            f"- {names}: 원가가 없어 원가 0원으로 계산했습니다. 실제 이익은 이보다 적습니다.",
        ]

    day_notes = _day_notes(list(figures.get("days", [])))
    if day_notes:
        lines += ["", "[기간 추이]", *day_notes]

    lines += ["", "[제안]"]
    best = by_profit[0]
    lines.append(
        f"- 효자 메뉴인 {with_particle(best['name'], '을', '를')} "
        "메뉴판 상단과 매장 입구에 노출하고 "
        "대표 메뉴로 홍보하세요."
    )
    if len(costed) >= 2:
        high = sorted(costed, key=lambda i: -_margin(i))[0]
        slow = sorted(costed, key=lambda i: int(i["quantity"]))[0]
        if high["item_id"] != best["item_id"]:
            lines.append(
                f"- 이익률이 높은 {with_particle(high['name'], '을', '를')} "
                f"{with_particle(best['name'], '과', '와')} 묶은 세트 메뉴로 "
                "구성하면 객단가와 이익을 함께 올릴 수 있습니다."
            )
        if slow["item_id"] not in (best["item_id"], high["item_id"]):
            lines.append(
                f"- 판매량이 가장 적은 {with_particle(slow['name'], '은', '는')} "
                "시간대 한정 할인으로 반응을 보고, "
                "개선이 없으면 메뉴 정리를 검토하세요."
            )
    for item in losing:
        lines.append(
            f"- {with_particle(item['name'], '은', '는')} "
            "가격 인상이나 원가 절감(재료·용량 조정)이 필요합니다."
        )
    if uncosted:
        lines.append(
            "- 원가 관리 화면에서 원가를 등록하면 메뉴별 이익을 정확히 비교할 수 있습니다."
        )
    if day_notes and len(figures.get("days", [])) >= 7:
        lines.append("- 매출이 낮은 요일에는 요일 한정 이벤트나 단체 예약 할인을 시도해 보세요.")
    return "\n".join(lines)
