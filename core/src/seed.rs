//! Development seed data: accounts with known passwords, past and upcoming meets of every type in
//! several time zones, registrations, projects with media assets, badges, posts and a kanban.
//!
//! Everything goes through the services, acting as the seeded users, so seeded data passes the
//! same validation as the API's and causes the same events (reminders, confirmations, welcome
//! emails, link checks, once a worker runs). Seeds only an empty database (no users), so it
//! never mixes with real data.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait, TransactionTrait};
use uuid::Uuid;

use crate::{
    auth::{Caller, PasswordHasher},
    badges::{
        entity::{BadgeShape, Model as Badge},
        service::{self as badges, NewBadge},
    },
    db::Db,
    error::AppResult,
    kanban::{
        positions::KanbanColumn,
        service::{self as kanban, NewBoard, NewCanon, NewCard, Placement},
    },
    meets::{
        entity::{MeetType, Model as Meet},
        service::{self as meets, MeetChanges, NewMeet},
    },
    posts::service as posts,
    projects::service::{self as projects, NewProject},
    users::{
        entity as user,
        service::{self as users, NewAccount},
    },
};

/// Printed by `make run` and listed in the README: email, password, first name, last name, admin.
pub const DEV_ACCOUNTS: &[(&str, &str, &str, &str, bool)] = &[
    ("admin@mintbean.dev", "mintbean-admin", "Ada", "Admin", true),
    (
        "grace@mintbean.dev",
        "password123",
        "Grace",
        "Hopper",
        false,
    ),
    (
        "linus@mintbean.dev",
        "password123",
        "Linus",
        "Torvalds",
        false,
    ),
    (
        "margaret@mintbean.dev",
        "password123",
        "Margaret",
        "Hamilton",
        false,
    ),
];

/// The passwords the seeded accounts get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountPasswords {
    /// The fixed ones of [`DEV_ACCOUNTS`], printed by `make run` and the README.
    Development,
    /// A fresh random password per account, printed once: for seeding a reachable server, where
    /// published passwords (one of them an admin's) would be an open door.
    Random,
}

/// An account the seed created, with the password it was given.
pub struct SeededAccount {
    pub email: &'static str,
    pub password: String,
    pub admin: bool,
}

pub enum SeedOutcome {
    Seeded(Vec<SeededAccount>),
    SkippedNotEmpty,
}

pub fn describe_accounts(heading: &str, accounts: &[SeededAccount]) -> String {
    let mut out = format!("{heading} (email / password):\n");
    for account in accounts {
        out.push_str(&format!(
            "  {:<24} {:<16}{}\n",
            account.email,
            account.password,
            if account.admin { " (admin)" } else { "" }
        ));
    }
    out
}

/// The seed's accounts with passwords of the given kind.
pub fn accounts(choice: AccountPasswords) -> Vec<SeededAccount> {
    DEV_ACCOUNTS
        .iter()
        .map(|(email, password, _, _, admin)| SeededAccount {
            email,
            password: match choice {
                AccountPasswords::Development => (*password).to_owned(),
                AccountPasswords::Random => Uuid::new_v4().simple().to_string(),
            },
            admin: *admin,
        })
        .collect()
}

pub async fn seed_if_empty(
    db: &DatabaseConnection,
    passwords: &PasswordHasher,
    choice: AccountPasswords,
) -> AppResult<SeedOutcome> {
    if user::Entity::find().count(db).await? > 0 {
        return Ok(SeedOutcome::SkippedNotEmpty);
    }
    let accounts = accounts(choice);
    let txn = db.begin().await?;
    let people = seed_accounts(&txn, passwords, &accounts).await?;
    let meets = seed_meets(&txn, &people).await?;
    let badges = seed_badges(&txn, &people.admin).await?;
    seed_projects(&txn, &people, &meets, &badges).await?;
    seed_kanban(&txn, &people, &meets[1]).await?;
    seed_posts(&txn, &people).await?;
    txn.commit().await?;
    Ok(SeedOutcome::Seeded(accounts))
}

/// The seeded accounts as callers: the admin and the regular users.
struct People {
    admin: Caller,
    members: Vec<Caller>,
}

async fn seed_accounts(
    db: &impl Db,
    passwords: &PasswordHasher,
    accounts: &[SeededAccount],
) -> AppResult<People> {
    let mut people = People {
        admin: Caller::Anonymous,
        members: Vec::new(),
    };
    for ((email, _, first, last, _), account) in DEV_ACCOUNTS.iter().zip(accounts) {
        let new = NewAccount {
            email: (*email).into(),
            first_name: (*first).into(),
            last_name: (*last).into(),
            password: account.password.clone(),
            password_confirmation: account.password.clone(),
        };
        let user = users::register(db, &Caller::Anonymous, passwords, new).await?;
        if account.admin {
            people.admin = Caller::from(Some(users::make_admin(db, user.id).await?));
        } else {
            people.members.push(Caller::from(Some(user)));
        }
    }
    Ok(people)
}

struct SeedMeet {
    kind: MeetType,
    title: &'static str,
    description: &'static str,
    zone: Tz,
    start_day: i64,
    start_hour: u32,
    length_hours: i64,
}

const SEED_MEETS: &[SeedMeet] = &[
    SeedMeet {
        kind: MeetType::Hackathon,
        title: "Autumn Game Jam",
        description: "Build a browser game in three days, alone or in a team.",
        zone: chrono_tz::America::Toronto,
        start_day: -21,
        start_hour: 12,
        length_hours: 72,
    },
    SeedMeet {
        kind: MeetType::Hackathon,
        title: "Winter Web Weeklong",
        description: "Seven days to ship a web app that helps your neighbourhood.",
        zone: chrono_tz::Europe::Berlin,
        start_day: 6,
        start_hour: 10,
        length_hours: 7 * 24,
    },
    SeedMeet {
        kind: MeetType::Hackathon,
        title: "Open Source Month",
        description: "Running now: contribute to open source projects all month long.",
        zone: chrono_tz::UTC,
        start_day: 0,
        start_hour: 0,
        length_hours: 23 * 24,
    },
    SeedMeet {
        kind: MeetType::Workshop,
        title: "Intro to GraphQL",
        description: "Queries, mutations and fragments, hands on.",
        zone: chrono_tz::Asia::Kolkata,
        start_day: 2,
        start_hour: 18,
        length_hours: 2,
    },
    SeedMeet {
        kind: MeetType::Workshop,
        title: "CSS Grid in Practice",
        description: "Lay out real pages with grid and subgrid.",
        zone: chrono_tz::America::Toronto,
        start_day: -10,
        start_hour: 19,
        length_hours: 2,
    },
    SeedMeet {
        kind: MeetType::Webinar,
        title: "Landing Your First Dev Job",
        description: "Portfolios, interviews and negotiating, from people who hire.",
        zone: chrono_tz::America::Los_Angeles,
        start_day: -30,
        start_hour: 17,
        length_hours: 1,
    },
    SeedMeet {
        kind: MeetType::Webinar,
        title: "Open Source Maintainers AMA",
        description: "Ask maintainers anything about running a project.",
        zone: chrono_tz::Europe::London,
        start_day: 9,
        start_hour: 16,
        length_hours: 1,
    },
    SeedMeet {
        kind: MeetType::Lecture,
        title: "How Databases Keep Your Data",
        description: "Write-ahead logs, MVCC and fsync, explained.",
        zone: chrono_tz::Australia::Sydney,
        start_day: 14,
        start_hour: 9,
        length_hours: 2,
    },
    SeedMeet {
        kind: MeetType::Lecture,
        title: "A Short History of the Web",
        description: "From CERN to the modern browser.",
        zone: chrono_tz::America::Toronto,
        start_day: -45,
        start_hour: 18,
        length_hours: 1,
    },
];

/// The wall-clock time `days` from today at `hour`:00 in `zone`, plus `length_hours`, as the API
/// takes it (`2020-10-10T09:00:00`).
fn wall_clock(zone: Tz, days: i64, hour: u32, plus_hours: i64) -> String {
    let today = Utc::now().with_timezone(&zone).date_naive();
    let date = today + Duration::days(days);
    let start = NaiveDate::from_ymd_opt(date.year(), date.month(), date.day())
        .and_then(|d| d.and_hms_opt(hour, 0, 0))
        .expect("a valid seed time");
    (start + Duration::hours(plus_hours))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn new_meet(spec: &SeedMeet) -> NewMeet {
    NewMeet {
        meet_type: spec.kind,
        title: spec.title.into(),
        description: spec.description.into(),
        detailed_description: Some(format!(
            "## {}\n\n{}\n\nEveryone is welcome, whatever your level.",
            spec.title, spec.description
        )),
        instructions:
            "Join the Discord, read the brief, and submit your project before the deadline.".into(),
        register_link: Some("https://mintbean.io/register".into()),
        cover_image_url: "https://res.cloudinary.com/demo/image/upload/sample.jpg".into(),
        start_time: wall_clock(spec.zone, spec.start_day, spec.start_hour, 0),
        end_time: wall_clock(
            spec.zone,
            spec.start_day,
            spec.start_hour,
            spec.length_hours,
        ),
        region: spec.zone.name().into(),
    }
}

/// Every meet, and every member registered for the past hackathon and two upcoming meets.
async fn seed_meets(db: &impl Db, people: &People) -> AppResult<Vec<Meet>> {
    let mut created = Vec::new();
    for spec in SEED_MEETS {
        created.push(meets::create(db, &people.admin, new_meet(spec)).await?);
    }
    for member in &people.members {
        for meet in [&created[0], &created[1], &created[3]] {
            meets::register(db, member, meet.id).await?;
        }
    }
    Ok(created)
}

async fn seed_badges(db: &impl Db, admin: &Caller) -> AppResult<Vec<Badge>> {
    let specs = [
        (
            ":trophy:",
            BadgeShape::Star,
            "trophy",
            "ffd700",
            "000000",
            "Winner",
            100,
        ),
        (
            ":sparkles:",
            BadgeShape::Circle,
            "magic",
            "7b2ff7",
            "ffffff",
            "Most Creative",
            50,
        ),
        (
            ":hammer:",
            BadgeShape::Square,
            "hammer",
            "2d3748",
            "f6ad55",
            "Best Engineering",
            50,
        ),
        (
            ":seedling:",
            BadgeShape::Circle,
            "seedling",
            "38a169",
            "ffffff",
            "First Submission",
            10,
        ),
    ];
    let mut created = Vec::new();
    for (alias, shape, icon, background, foreground, title, weight) in specs {
        let badge = NewBadge {
            alias: alias.into(),
            badge_shape: shape,
            fa_icon: icon.into(),
            background_hex: Some(background.into()),
            icon_hex: Some(foreground.into()),
            title: title.into(),
            description: Some(format!("Awarded for: {title}.")),
            weight: Some(weight),
        };
        created.push(badges::create(db, admin, badge).await?);
    }
    Ok(created)
}

/// Each member submits a project with media assets to the past hackathon; the admin awards
/// badges.
async fn seed_projects(
    db: &impl Db,
    people: &People,
    meets: &[Meet],
    badges: &[Badge],
) -> AppResult<()> {
    let submissions: [(&str, &[&str], &[usize]); 3] = [
        (
            "Pixel Pirates",
            &[
                "samples/landscapes/beach-boat",
                "samples/landscapes/nature-mountains",
            ],
            &[0, 3],
        ),
        ("Kernel Panic!", &["samples/animals/cat"], &[2, 3]),
        (
            "Moonshot",
            &[
                "samples/landscapes/architecture-signs",
                "samples/food/dessert",
                "samples/people/smiling-man",
            ],
            &[1],
        ),
    ];
    for (member, (title, assets, badge_indexes)) in people.members.iter().zip(submissions) {
        let slug = title.to_lowercase().replace([' ', '!'], "-");
        let project = NewProject {
            user_id: None,
            meet_id: Some(meets[0].id),
            title: title.into(),
            source_code_url: format!("https://github.com/mintbean-dev/{slug}"),
            live_url: format!(
                "https://{}.example.com",
                slug.trim_matches('-').replace('-', "")
            ),
            cloudinary_public_ids: assets.iter().map(|id| (*id).to_owned()).collect(),
        };
        let project = projects::create(db, member, project).await?;
        let awarded: Vec<Uuid> = badge_indexes.iter().map(|i| badges[*i].id).collect();
        badges::award_to_project(db, &people.admin, project.id, &awarded).await?;
    }
    Ok(())
}

const CANON_CARDS: [(KanbanColumn, &str, &str); 6] = [
    (
        KanbanColumn::Todo,
        "Pick a team name",
        "Agree on a name and create a shared repo.",
    ),
    (
        KanbanColumn::Todo,
        "Sketch the screens",
        "Paper is fine. What does a visitor see first?",
    ),
    (
        KanbanColumn::Todo,
        "Write the README",
        "What it does, how to run it, who built it.",
    ),
    (
        KanbanColumn::Wip,
        "Set up the project",
        "`npm create vite@latest`, push, deploy a hello world.",
    ),
    (
        KanbanColumn::Wip,
        "Design the data model",
        "Which things exist, and how they relate.",
    ),
    (KanbanColumn::Done, "Register for the meet", "You are here!"),
];

/// A canon with cards in all three columns, attached to an upcoming meet, and the first member's
/// board on it with a couple of personal moves.
async fn seed_kanban(db: &impl Db, people: &People, meet: &Meet) -> AppResult<()> {
    let admin = &people.admin;
    let canon = NewCanon {
        title: "Ship your hackathon project".into(),
        description: "A week-long plan from idea to deployed app.".into(),
    };
    let canon = kanban::create_canon(db, admin, canon).await?;
    let mut card_ids = Vec::new();
    for (column, title, body) in CANON_CARDS {
        let card = NewCard {
            kanban_canon_id: canon.id,
            title: title.into(),
            status: Some(column),
            index: None,
            body: body.into(),
        };
        card_ids.push(kanban::create_card(db, admin, card).await?.id);
    }
    let attach = MeetChanges {
        kanban_canon_id: Some(Some(canon.id)),
        ..MeetChanges::default()
    };
    meets::edit(db, admin, meet.id, attach).await?;
    // The member has finished the first card and started on the README.
    let moves = [
        (card_ids[0], KanbanColumn::Done),
        (card_ids[2], KanbanColumn::Wip),
    ];
    seed_board(db, &people.members[0], canon.id, meet.id, &moves).await
}

async fn seed_board(
    db: &impl Db,
    member: &Caller,
    canon_id: Uuid,
    meet_id: Uuid,
    moves: &[(Uuid, KanbanColumn)],
) -> AppResult<()> {
    let board = NewBoard {
        kanban_canon_id: canon_id,
        user_id: member.require_user()?.id,
        meet_id: Some(meet_id),
    };
    let board = kanban::create_board(db, member, board).await?;
    for (card, column) in moves {
        let placement = Placement {
            column: *column,
            index: Some(0),
        };
        kanban::move_on_board(db, member, board.id, *card, placement).await?;
    }
    Ok(())
}

async fn seed_posts(db: &impl Db, people: &People) -> AppResult<()> {
    let posts = [
        (
            &people.members[0],
            "Shipped my first game jam entry. Pixel art is harder than it looks!",
        ),
        (
            &people.members[1],
            "Looking for a teammate for the Winter Web Weeklong — backend person here.",
        ),
        (
            &people.admin,
            "Welcome to Mintbean! Check out the upcoming meets.",
        ),
    ];
    for (author, body) in posts {
        posts::create(db, author, body).await?;
    }
    Ok(())
}
