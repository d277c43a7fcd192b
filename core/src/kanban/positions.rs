//! Card positions: the `{"todo":[ids],"wip":[ids],"done":[ids]}` JSON of canons and boards, and
//! the rules that combine them. Pure functions; the service applies them under row locks.
//!
//! The canon's positions order all of its live cards. A user's board stores only what the user
//! arranged: in each column, a prefix of that column as the user left it (a card's index in the
//! stored array is its place in the column). Resolving a board places every live card of the
//! canon:
//! * a stored card at its stored column and index;
//! * any other card at its canon column and canon index (cards the user never moved follow the
//!   canon, including cards added to the canon later);
//! * within a column, cards are ordered by index; on a tie the user's card goes first;
//! * deleted cards and unknown ids are dropped, and a card stored twice counts once.
//!
//! After a move the stored prefixes are as short as possible while resolving to exactly what the
//! user asked for, so cards the user never touched keep following the canon.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A column of a kanban board (`KanbanCanonCardStatusEnum` in GraphQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KanbanColumn {
    Todo,
    Wip,
    Done,
}

impl KanbanColumn {
    pub const ALL: [KanbanColumn; 3] = [KanbanColumn::Todo, KanbanColumn::Wip, KanbanColumn::Done];

    /// The value stored in `kanbanCanonCards.status`.
    pub fn as_stored(self) -> &'static str {
        match self {
            KanbanColumn::Todo => "TODO",
            KanbanColumn::Wip => "WIP",
            KanbanColumn::Done => "DONE",
        }
    }

    pub fn from_stored(value: &str) -> KanbanColumn {
        match value.to_ascii_uppercase().as_str() {
            "WIP" => KanbanColumn::Wip,
            "DONE" => KanbanColumn::Done,
            _ => KanbanColumn::Todo,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions {
    #[serde(default)]
    pub todo: Vec<Uuid>,
    #[serde(default)]
    pub wip: Vec<Uuid>,
    #[serde(default)]
    pub done: Vec<Uuid>,
}

/// A live card of a canon: its id and the column stored on the card row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveCard {
    pub id: Uuid,
    pub status: KanbanColumn,
}

impl Positions {
    /// Reads stored JSON leniently: missing columns are empty, and entries that are not ids
    /// (hand-edited or corrupt rows) are skipped rather than making the board unreadable.
    pub fn from_json(value: Option<&serde_json::Value>) -> Positions {
        let column = |name: &str| -> Vec<Uuid> {
            value
                .and_then(|v| v.get(name))
                .and_then(|v| v.as_array())
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| id.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                        .collect()
                })
                .unwrap_or_default()
        };
        Positions {
            todo: column("todo"),
            wip: column("wip"),
            done: column("done"),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "todo": self.todo, "wip": self.wip, "done": self.done })
    }

    pub fn column(&self, column: KanbanColumn) -> &Vec<Uuid> {
        match column {
            KanbanColumn::Todo => &self.todo,
            KanbanColumn::Wip => &self.wip,
            KanbanColumn::Done => &self.done,
        }
    }

    pub fn column_mut(&mut self, column: KanbanColumn) -> &mut Vec<Uuid> {
        match column {
            KanbanColumn::Todo => &mut self.todo,
            KanbanColumn::Wip => &mut self.wip,
            KanbanColumn::Done => &mut self.done,
        }
    }

    pub fn contains(&self, id: Uuid) -> bool {
        KanbanColumn::ALL
            .iter()
            .any(|c| self.column(*c).contains(&id))
    }

    /// Removes a card wherever it is; true if it was there.
    pub fn remove(&mut self, id: Uuid) -> bool {
        let mut found = false;
        for column in KanbanColumn::ALL {
            let ids = self.column_mut(column);
            let before = ids.len();
            ids.retain(|c| *c != id);
            found |= ids.len() != before;
        }
        found
    }

    /// Moves (or adds) a card to `column` at `index`; an index past the end means the end.
    pub fn place(&mut self, id: Uuid, column: KanbanColumn, index: usize) {
        self.remove(id);
        let ids = self.column_mut(column);
        let index = index.min(ids.len());
        ids.insert(index, id);
    }

    /// The (column, index) of every id, first occurrence winning.
    fn placements(&self) -> HashMap<Uuid, (KanbanColumn, usize)> {
        let mut placements = HashMap::new();
        for column in KanbanColumn::ALL {
            for (index, id) in self.column(column).iter().enumerate() {
                placements.entry(*id).or_insert((column, index));
            }
        }
        placements
    }

    pub fn len(&self) -> usize {
        self.todo.len() + self.wip.len() + self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The canon's own board: its stored positions limited to live cards, each once, plus live cards
/// missing from them appended to the column stored on the card.
pub fn canon_board(stored: &Positions, live: &[LiveCard]) -> Positions {
    overlay(&Positions::default(), stored, live)
}

/// What a user sees: `user` (the stored prefixes) over `canon`, for the canon's `live` cards.
pub fn resolve(user: &Positions, canon: &Positions, live: &[LiveCard]) -> Positions {
    // Canon indexes count live cards only, so stale ids in stored JSON cannot shift them.
    overlay(user, &canon_board(canon, live), live)
}

fn overlay(user: &Positions, canon: &Positions, live: &[LiveCard]) -> Positions {
    let user_places = user.placements();
    let canon_places = canon.placements();
    // (column, index, from_canon, creation order) per card; sorting on it orders each column.
    let mut placed: Vec<(KanbanColumn, usize, bool, usize, Uuid)> = Vec::with_capacity(live.len());
    let mut seen = HashSet::with_capacity(live.len());
    for (order, card) in live.iter().enumerate() {
        if !seen.insert(card.id) {
            continue;
        }
        let (column, index, from_canon) =
            match (user_places.get(&card.id), canon_places.get(&card.id)) {
                (Some((column, index)), _) => (*column, *index, false),
                (None, Some((column, index))) => (*column, *index, true),
                (None, None) => (card.status, usize::MAX, true),
            };
        placed.push((column, index, from_canon, order, card.id));
    }
    placed.sort();
    let mut board = Positions::default();
    for (column, _, _, _, id) in placed {
        board.column_mut(column).push(id);
    }
    board
}

/// The shortest stored prefixes that make `resolve(stored, canon, live)` equal `target`.
/// `target` must be a board of exactly the live cards (as [`resolve`] returns).
pub fn compact(target: &Positions, canon: &Positions, live: &[LiveCard]) -> Positions {
    let canon_board = canon_board(canon, live);
    let canon_column: HashMap<Uuid, KanbanColumn> = KanbanColumn::ALL
        .iter()
        .flat_map(|c| canon_board.column(*c).iter().map(move |id| (*id, *c)))
        .collect();
    let mut stored = Positions::default();
    for column in KanbanColumn::ALL {
        let wanted = target.column(column);
        // Every card that is not in its canon column must be stored.
        let required = wanted
            .iter()
            .rposition(|id| canon_column.get(id) != Some(&column))
            .map_or(0, |last| last + 1);
        let mut length = required;
        loop {
            *stored.column_mut(column) = wanted[..length].to_vec();
            if resolve_column(&stored, &canon_board, column, target) == *wanted
                || length == wanted.len()
            {
                break;
            }
            length += 1;
        }
    }
    stored
}

/// One column of `resolve(stored, canon_board, ...)`, where the cards stored in other columns are
/// those `target` has there.
fn resolve_column(
    stored: &Positions,
    canon_board: &Positions,
    column: KanbanColumn,
    target: &Positions,
) -> Vec<Uuid> {
    let stored_elsewhere: HashSet<Uuid> = KanbanColumn::ALL
        .iter()
        .filter(|c| **c != column)
        .flat_map(|c| target.column(*c).iter().copied())
        .collect();
    let own = stored.column(column);
    let mut placed: Vec<(usize, bool, Uuid)> = own
        .iter()
        .enumerate()
        .map(|(i, id)| (i, false, *id))
        .collect();
    for (index, id) in canon_board.column(column).iter().enumerate() {
        if !own.contains(id) && !stored_elsewhere.contains(id) {
            placed.push((index, true, *id));
        }
    }
    placed.sort_by_key(|(index, from_canon, _)| (*index, *from_canon));
    placed.into_iter().map(|(_, _, id)| id).collect()
}

/// A user's move on their board: returns the new stored prefixes and the board they resolve to.
pub fn move_on_board(
    stored: &Positions,
    canon: &Positions,
    live: &[LiveCard],
    card: Uuid,
    column: KanbanColumn,
    index: usize,
) -> (Positions, Positions) {
    let mut board = resolve(stored, canon, live);
    board.place(card, column, index);
    let compacted = compact(&board, canon, live);
    (compacted, board)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|i| Uuid::from_u128(i as u128 + 1)).collect()
    }

    fn live_todo(cards: &[Uuid]) -> Vec<LiveCard> {
        cards
            .iter()
            .map(|id| LiveCard {
                id: *id,
                status: KanbanColumn::Todo,
            })
            .collect()
    }

    #[test]
    fn an_untouched_board_is_the_canon() {
        let c = ids(3);
        let canon = Positions {
            todo: vec![c[0], c[1]],
            wip: vec![c[2]],
            done: vec![],
        };
        assert_eq!(
            resolve(&Positions::default(), &canon, &live_todo(&c)),
            canon
        );
    }

    #[test]
    fn a_moved_card_lands_where_the_user_put_it_and_others_follow_the_canon() {
        let c = ids(4);
        let live = live_todo(&c);
        let mut canon = Positions {
            todo: c.clone(),
            ..Default::default()
        };
        let (stored, board) = move_on_board(
            &Positions::default(),
            &canon,
            &live,
            c[2],
            KanbanColumn::Todo,
            0,
        );
        assert_eq!(board.todo, vec![c[2], c[0], c[1], c[3]]);
        assert_eq!(stored.todo, vec![c[2]], "only the moved card is stored");
        assert_eq!(resolve(&stored, &canon, &live), board);

        // The admin moves card 3 (which this user never moved) to the top of the canon.
        canon.place(c[3], KanbanColumn::Todo, 0);
        assert_eq!(
            resolve(&stored, &canon, &live).todo,
            vec![c[2], c[3], c[0], c[1]]
        );
        // And to another column: the user sees that too.
        canon.place(c[1], KanbanColumn::Done, 0);
        let seen = resolve(&stored, &canon, &live);
        assert_eq!(seen.done, vec![c[1]]);
        assert_eq!(seen.todo, vec![c[2], c[3], c[0]]);
    }

    #[test]
    fn cards_added_later_appear_at_their_canon_place_and_deleted_ones_vanish() {
        let c = ids(5);
        let mut canon = Positions {
            todo: c[..3].to_vec(),
            ..Default::default()
        };
        let live = live_todo(&c[..3]);
        let (stored, _) = move_on_board(
            &Positions::default(),
            &canon,
            &live,
            c[0],
            KanbanColumn::Done,
            0,
        );
        canon.place(c[3], KanbanColumn::Todo, 0);
        canon.place(c[4], KanbanColumn::Wip, 0);
        let live = live_todo(&c);
        let seen = resolve(&stored, &canon, &live);
        assert_eq!(seen.todo[0], c[3]);
        assert_eq!(seen.wip, vec![c[4]]);
        assert_eq!(seen.done, vec![c[0]]);

        let live: Vec<LiveCard> = live.into_iter().filter(|card| card.id != c[0]).collect();
        let seen = resolve(&stored, &canon, &live);
        assert!(!seen.contains(c[0]));
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn indexes_past_the_end_mean_the_end() {
        let c = ids(3);
        let mut p = Positions {
            todo: c.clone(),
            ..Default::default()
        };
        p.place(c[0], KanbanColumn::Todo, 99);
        assert_eq!(p.todo, vec![c[1], c[2], c[0]]);
        p.place(c[1], KanbanColumn::Wip, 7);
        assert_eq!(p.wip, vec![c[1]]);
    }

    #[test]
    fn reads_stored_json_leniently() {
        let id = Uuid::new_v4();
        let json = serde_json::json!({ "todo": [id.to_string(), "not-a-uuid", 7], "done": null });
        let p = Positions::from_json(Some(&json));
        assert_eq!(p.todo, vec![id]);
        assert!(p.wip.is_empty() && p.done.is_empty());
        assert_eq!(Positions::from_json(None), Positions::default());
        assert_eq!(Positions::from_json(Some(&p.to_json())), p);
    }

    /// One step of a random history of a canon and two users' boards.
    #[derive(Clone, Debug)]
    enum Op {
        CreateCard {
            column: usize,
            index: usize,
        },
        DeleteCard {
            pick: usize,
        },
        MoveOnCanon {
            pick: usize,
            column: usize,
            index: usize,
        },
        MoveOnBoard {
            user: usize,
            pick: usize,
            column: usize,
            index: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 0..8usize).prop_map(|(column, index)| Op::CreateCard { column, index }),
            (0..64usize).prop_map(|pick| Op::DeleteCard { pick }),
            (0..64usize, 0..3usize, 0..8usize).prop_map(|(pick, column, index)| Op::MoveOnCanon {
                pick,
                column,
                index
            }),
            (0..2usize, 0..64usize, 0..3usize, 0..8usize).prop_map(
                |(user, pick, column, index)| Op::MoveOnBoard {
                    user,
                    pick,
                    column,
                    index
                }
            ),
        ]
    }

    fn assert_board_is_exactly_the_live_cards(board: &Positions, live: &[LiveCard]) {
        let mut seen: Vec<Uuid> = KanbanColumn::ALL
            .iter()
            .flat_map(|c| board.column(*c).clone())
            .collect();
        let mut expected: Vec<Uuid> = live.iter().map(|c| c.id).collect();
        seen.sort();
        expected.sort();
        assert_eq!(seen, expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn every_live_card_appears_exactly_once_on_every_board(ops in proptest::collection::vec(op(), 1..60)) {
            let mut live: Vec<LiveCard> = Vec::new();
            let mut canon = Positions::default();
            let mut boards = [Positions::default(), Positions::default()];
            let mut next = 1u128;
            for op in ops {
                match op {
                    Op::CreateCard { column, index } => {
                        let id = Uuid::from_u128(next);
                        next += 1;
                        live.push(LiveCard { id, status: KanbanColumn::ALL[column] });
                        canon.place(id, KanbanColumn::ALL[column], index);
                    }
                    Op::DeleteCard { pick } if !live.is_empty() => {
                        let card = live.remove(pick % live.len());
                        canon.remove(card.id);
                        for board in &mut boards {
                            board.remove(card.id);
                        }
                    }
                    Op::MoveOnCanon { pick, column, index } if !live.is_empty() => {
                        let card = live[pick % live.len()].id;
                        canon.place(card, KanbanColumn::ALL[column], index);
                    }
                    Op::MoveOnBoard { user, pick, column, index } if !live.is_empty() => {
                        let card = live[pick % live.len()].id;
                        let (stored, board) = move_on_board(&boards[user], &canon, &live, card, KanbanColumn::ALL[column], index);
                        // The user sees the card exactly where they put it.
                        let target = board.column(KanbanColumn::ALL[column]);
                        prop_assert_eq!(target[index.min(target.len() - 1)], card);
                        prop_assert_eq!(resolve(&stored, &canon, &live), board);
                        boards[user] = stored;
                    }
                    _ => {}
                }
                let canon_view = canon_board(&canon, &live);
                assert_board_is_exactly_the_live_cards(&canon_view, &live);
                for board in &boards {
                    let seen = resolve(board, &canon, &live);
                    assert_board_is_exactly_the_live_cards(&seen, &live);
                    // Cards the user never arranged stay in their canon column.
                    for column in KanbanColumn::ALL {
                        for id in canon_view.column(column).iter().filter(|id| !board.contains(**id)) {
                            prop_assert!(seen.column(column).contains(id));
                        }
                    }
                }
            }
        }
    }
}
