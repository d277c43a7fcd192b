//! Development seed data: accounts with known passwords, past and upcoming meets of every type in
//! several time zones, registrations, projects with media assets, badges, posts.
//!
//! Seeds only an empty database (no users), so it never mixes with real data.

use chrono::{Datelike, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set,
    TransactionTrait,
};
use uuid::Uuid;

use crate::{
    auth::PasswordHasher,
    badges::{badge_project, entity as badge},
    error::AppResult,
    kanban::{
        board, canon, card,
        positions::{self, Column, LiveCard, Positions},
    },
    meets::{entity as meet, entity::MeetType, registration},
    posts::entity as post,
    projects::{entity as project, media_asset, project_media_asset},
    users::entity as user,
};

/// Printed by `make run` and listed in the README.
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

pub fn describe_accounts(accounts: &[SeededAccount]) -> String {
    let mut out = String::from("Seeded accounts (email / password):\n");
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
    seed(&txn, passwords, &accounts).await?;
    txn.commit().await?;
    Ok(SeedOutcome::Seeded(accounts))
}

/// A wall-clock time `days` from today at `hour`:00 in `zone`, stored the Node way (as if UTC).
fn local(zone: Tz, days: i64, hour: u32) -> chrono::DateTime<Utc> {
    let today = Utc::now().with_timezone(&zone).date_naive();
    let date = today + Duration::days(days);
    let wall: NaiveDateTime =
        chrono::NaiveDate::from_ymd_opt(date.year(), date.month(), date.day())
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .expect("valid seed time");
    Utc.from_utc_datetime(&wall)
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

async fn seed(
    db: &impl ConnectionTrait,
    passwords: &PasswordHasher,
    accounts: &[SeededAccount],
) -> AppResult<()> {
    let now = Utc::now();
    let mut users = Vec::new();
    for ((email, _, first, last, admin), account) in DEV_ACCOUNTS.iter().zip(accounts) {
        let password = &account.password;
        let row = user::ActiveModel {
            id: Set(Uuid::new_v4()),
            email: Set((*email).into()),
            first_name: Set((*first).into()),
            last_name: Set((*last).into()),
            password_hash: Set(passwords.hash(password).await?),
            is_admin: Set(*admin),
            created_at: Set(now - Duration::days(60)),
            updated_at: Set(now - Duration::days(60)),
            deleted: Set(false),
        }
        .insert(db)
        .await?;
        users.push(row);
    }

    let meets_to_create = [
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

    let mut meets = Vec::new();
    for spec in &meets_to_create {
        let start = local(spec.zone, spec.start_day, spec.start_hour);
        let row = meet::ActiveModel {
            id: Set(Uuid::new_v4()),
            meet_type: Set(spec.kind.as_str().into()),
            title: Set(spec.title.into()),
            description: Set(spec.description.into()),
            instructions: Set(
                "Join the Discord, read the brief, and submit your project before the deadline."
                    .into(),
            ),
            detailed_description: Set(Some(format!(
                "## {}\n\n{}\n\nEveryone is welcome, whatever your level.",
                spec.title, spec.description
            ))),
            register_link: Set(Some("https://mintbean.io/register".into())),
            cover_image_url: Set("https://res.cloudinary.com/demo/image/upload/sample.jpg".into()),
            start_time: Set(start),
            end_time: Set(start + Duration::hours(spec.length_hours)),
            region: Set(spec.zone.name().into()),
            kanban_canon_id: Set(None),
            created_at: Set(now - Duration::days(50)),
            updated_at: Set(now - Duration::days(50)),
            deleted: Set(false),
        }
        .insert(db)
        .await?;
        meets.push(row);
    }

    // Every regular user registers for the past hackathon and two upcoming meets.
    for user in users.iter().filter(|u| !u.is_admin) {
        for meet in [&meets[0], &meets[1], &meets[3]] {
            registration::ActiveModel {
                id: Set(Uuid::new_v4()),
                user_id: Set(user.id),
                meet_id: Set(meet.id),
                created_at: Set(now - Duration::days(40)),
                updated_at: Set(now - Duration::days(40)),
                deleted: Set(false),
            }
            .insert(db)
            .await?;
        }
    }

    let badges = [
        (
            ":trophy:", "star", "trophy", "ffd700", "000000", "Winner", 100,
        ),
        (
            ":sparkles:",
            "circle",
            "magic",
            "7b2ff7",
            "ffffff",
            "Most Creative",
            50,
        ),
        (
            ":hammer:",
            "square",
            "hammer",
            "2d3748",
            "f6ad55",
            "Best Engineering",
            50,
        ),
        (
            ":seedling:",
            "circle",
            "seedling",
            "38a169",
            "ffffff",
            "First Submission",
            10,
        ),
    ];
    let mut badge_rows = Vec::new();
    for (alias, shape, icon, bg, fg, title, weight) in badges {
        let row = badge::ActiveModel {
            id: Set(Uuid::new_v4()),
            alias: Set(alias.into()),
            badge_shape: Set(shape.into()),
            fa_icon: Set(icon.into()),
            background_hex: Set(Some(bg.into())),
            icon_hex: Set(Some(fg.into())),
            title: Set(title.into()),
            description: Set(format!("Awarded for: {title}.")),
            weight: Set(weight),
            created_at: Set(now - Duration::days(30)),
            updated_at: Set(now - Duration::days(30)),
            deleted: Set(false),
        }
        .insert(db)
        .await?;
        badge_rows.push(row);
    }

    let submissions = [
        (
            &users[1],
            "Pixel Pirates",
            &[
                "samples/landscapes/beach-boat",
                "samples/landscapes/nature-mountains",
            ][..],
            &[0usize, 3][..],
        ),
        (
            &users[2],
            "Kernel Panic!",
            &["samples/animals/cat"][..],
            &[2, 3][..],
        ),
        (
            &users[3],
            "Moonshot",
            &[
                "samples/landscapes/architecture-signs",
                "samples/food/dessert",
                "samples/people/smiling-man",
            ][..],
            &[1][..],
        ),
    ];
    for (owner, title, assets, badge_indexes) in submissions {
        let project = project::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(owner.id),
            meet_id: Set(Some(meets[0].id)),
            title: Set(title.into()),
            source_code_url: Set(format!(
                "https://github.com/mintbean-dev/{}",
                title.to_lowercase().replace([' ', '!'], "-")
            )),
            live_url: Set(format!(
                "https://{}.example.com",
                title.to_lowercase().replace([' ', '!'], "")
            )),
            created_at: Set(now - Duration::days(18)),
            updated_at: Set(now - Duration::days(18)),
            deleted: Set(false),
        }
        .insert(db)
        .await?;
        for (index, public_id) in assets.iter().enumerate() {
            let asset = media_asset::ActiveModel {
                id: Set(Uuid::new_v4()),
                user_id: Set(owner.id),
                cloudinary_public_id: Set((*public_id).into()),
                index: Set(Some(index as i32)),
                created_at: Set(now - Duration::days(18)),
                updated_at: Set(now - Duration::days(18)),
                deleted: Set(false),
            }
            .insert(db)
            .await?;
            project_media_asset::ActiveModel {
                id: Set(Uuid::new_v4()),
                project_id: Set(project.id),
                media_asset_id: Set(asset.id),
                created_at: Set(now - Duration::days(18)),
                updated_at: Set(now - Duration::days(18)),
                deleted: Set(false),
            }
            .insert(db)
            .await?;
        }
        for badge_index in badge_indexes {
            badge_project::ActiveModel {
                id: Set(Uuid::new_v4()),
                project_id: Set(project.id),
                badge_id: Set(badge_rows[*badge_index].id),
                created_at: Set(now - Duration::days(15)),
                updated_at: Set(now - Duration::days(15)),
            }
            .insert(db)
            .await?;
        }
    }

    seed_kanban(db, &users[1], &meets[1], now).await?;

    for (author, body) in [
        (
            &users[1],
            "Shipped my first game jam entry. Pixel art is harder than it looks!",
        ),
        (
            &users[2],
            "Looking for a teammate for the Winter Web Weeklong — backend person here.",
        ),
        (
            &users[0],
            "Welcome to Mintbean! Check out the upcoming meets.",
        ),
    ] {
        post::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(author.id),
            body: Set(body.into()),
            created_at: Set(now - Duration::days(5)),
            updated_at: Set(now - Duration::days(5)),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// A canon with cards in all three columns, attached to an upcoming meet, and one user's board on
/// it with a couple of personal moves.
async fn seed_kanban(
    db: &impl ConnectionTrait,
    user: &user::Model,
    meet_row: &meet::Model,
    now: chrono::DateTime<Utc>,
) -> AppResult<()> {
    let cards = [
        (
            Column::Todo,
            "Pick a team name",
            "Agree on a name and create a shared repo.",
        ),
        (
            Column::Todo,
            "Sketch the screens",
            "Paper is fine. What does a visitor see first?",
        ),
        (
            Column::Todo,
            "Write the README",
            "What it does, how to run it, who built it.",
        ),
        (
            Column::Wip,
            "Set up the project",
            "`npm create vite@latest`, push, deploy a hello world.",
        ),
        (
            Column::Wip,
            "Design the data model",
            "Which things exist, and how they relate.",
        ),
        (Column::Done, "Register for the meet", "You are here!"),
    ];
    let canon_id = Uuid::new_v4();
    let mut board = Positions::default();
    let mut live = Vec::new();
    for (column, _, _) in &cards {
        let id = Uuid::new_v4();
        board.column_mut(*column).push(id);
        live.push(LiveCard {
            id,
            status: *column,
        });
    }
    canon::ActiveModel {
        id: Set(canon_id),
        title: Set("Ship your hackathon project".into()),
        description: Set("A week-long plan from idea to deployed app.".into()),
        card_positions: Set(Some(board.to_json())),
        created_at: Set(now - Duration::days(20)),
        updated_at: Set(now - Duration::days(20)),
    }
    .insert(db)
    .await?;
    for ((column, title, body), live_card) in cards.iter().zip(&live) {
        card::ActiveModel {
            id: Set(live_card.id),
            kanban_canon_id: Set(canon_id),
            title: Set((*title).into()),
            body: Set((*body).into()),
            status: Set(column.as_stored().into()),
            created_at: Set(now - Duration::days(20)),
            updated_at: Set(now - Duration::days(20)),
            deleted: Set(false),
        }
        .insert(db)
        .await?;
    }
    let mut attached: meet::ActiveModel = meet_row.clone().into();
    attached.kanban_canon_id = Set(Some(canon_id));
    attached.update(db).await?;

    // The user has finished the first card and started on the README.
    let (stored, _) = positions::move_on_board(
        &Positions::default(),
        &board,
        &live,
        live[0].id,
        Column::Done,
        0,
    );
    let (stored, _) = positions::move_on_board(&stored, &board, &live, live[2].id, Column::Wip, 0);
    board::ActiveModel {
        id: Set(Uuid::new_v4()),
        kanban_canon_id: Set(canon_id),
        user_id: Set(user.id),
        meet_id: Set(Some(meet_row.id)),
        card_positions: Set(Some(stored.to_json())),
        created_at: Set(now - Duration::days(3)),
        updated_at: Set(now - Duration::days(3)),
        deleted: Set(false),
    }
    .insert(db)
    .await?;
    Ok(())
}
