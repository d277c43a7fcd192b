//! Accounts: registration, login, lookups.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
    sea_query::{Expr, ExprTrait, Func},
};
use uuid::Uuid;

use super::entity::{ActiveModel, Column, Entity as Users, Model as User};
use std::net::IpAddr;

use crate::{
    auth::{Caller, PasswordHasher, password::Verification, throttle},
    config::LoginLimits,
    error::{AppError, AppResult},
    validation,
};

/// A new account.
pub struct NewAccount {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    pub password_confirmation: String,
}

/// An active (not deleted) account.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<User>> {
    Ok(Users::live().filter(Column::Id.eq(id)).one(db).await?)
}

pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<User>> {
    Ok(Users::live()
        .filter(crate::db::any_id(Column::Id, ids))
        .all(db)
        .await?)
}

/// Gives an account admin rights. For setup tools (the seed data): the API has no way to do it,
/// as the Node backend had none.
pub async fn make_admin(db: &impl ConnectionTrait, id: Uuid) -> AppResult<User> {
    let user = find(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("User"))?;
    let mut model: ActiveModel = user.into();
    model.is_admin = Set(true);
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

/// The caller's own account: `UNAUTHENTICATED` when logged out.
pub fn me(caller: &Caller) -> AppResult<User> {
    caller.require_user().cloned()
}

/// The row with this email (case-insensitive), deleted or not: the UNIQUE constraint covers
/// deleted accounts too, so registration must see them; login ignores them.
async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> AppResult<Option<User>> {
    Ok(Users::find()
        .filter(Expr::expr(Func::lower(Expr::col(Column::Email))).eq(email.trim().to_lowercase()))
        .one(db)
        .await?)
}

fn validate_password(password: &str, confirmation: &str) -> AppResult<()> {
    let len = password.chars().count();
    if !(6..=64).contains(&len) {
        return Err(AppError::bad_input(
            "password",
            "password must be between 6 and 64 characters",
        ));
    }
    if password != confirmation {
        return Err(AppError::bad_input(
            "passwordConfirmation",
            "passwordConfirmation must match password",
        ));
    }
    Ok(())
}

/// Admins. Every active user, newest first.
pub async fn list(db: &impl ConnectionTrait, caller: &Caller) -> AppResult<Vec<User>> {
    caller.require_admin()?;
    Ok(Users::find()
        .filter(Column::Deleted.eq(false))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(db)
        .await?)
}

/// Anyone logged out (as the Node backend: a logged-in caller is refused, "Already logged in").
#[tracing::instrument(skip_all)]
pub async fn register(
    db: &impl crate::db::Db,
    caller: &Caller,
    passwords: &PasswordHasher,
    input: NewAccount,
) -> AppResult<User> {
    if caller.user().is_some() {
        return Err(AppError::Unauthenticated("Already logged in".into()));
    }
    let email = validation::email("email", &input.email)?;
    let first_name = validation::text("firstName", &input.first_name, 1, 32)?;
    let last_name = validation::text("lastName", &input.last_name, 1, 32)?;
    validate_password(&input.password, &input.password_confirmation)?;
    if find_by_email(db, &email).await?.is_some() {
        return Err(email_taken());
    }
    let password_hash = passwords.hash(&input.password).await?;
    let now = Utc::now();
    let txn = crate::db::begin(db, caller).await?;
    let user = ActiveModel {
        id: Set(Uuid::new_v4()),
        email: Set(email),
        first_name: Set(first_name),
        last_name: Set(last_name),
        password_hash: Set(password_hash),
        is_admin: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        deleted: Set(false),
    }
    .insert(&txn)
    .await
    .map_err(|e| AppError::on_unique_violation(e, "email", EMAIL_TAKEN))?;
    txn.commit().await?;
    Ok(user)
}

const EMAIL_TAKEN: &str = "email is already registered";

fn email_taken() -> AppError {
    AppError::bad_input("email", EMAIL_TAKEN)
}

/// A login's password: 2 to 64 characters, as the Node backend checked (registration asks 6–64);
/// nothing outside is ever hashed.
const LOGIN_PASSWORD_CHARS: (usize, usize) = (2, 64);
/// Longest email a login looks up (RFC 5321 allows 254 in practice).
const MAX_LOGIN_EMAIL_CHARS: usize = 320;

/// Checks credentials within the failed-login limits of the account and of the `client`
/// address. An unknown email and a wrong password fail identically, and take about as long as
/// each other (the unknown case verifies against a decoy hash).
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    db: &(impl ConnectionTrait + TransactionTrait),
    passwords: &PasswordHasher,
    limits: &LoginLimits,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> AppResult<User> {
    // The arguments' format first, before any account is looked at (it reveals nothing).
    let (min, max) = LOGIN_PASSWORD_CHARS;
    if !(min..=max).contains(&password.chars().count()) {
        return Err(AppError::bad_input(
            "password",
            format!("password must be {min} to {max} characters"),
        ));
    }
    if email.chars().count() > MAX_LOGIN_EMAIL_CHARS {
        return Err(AppError::bad_input(
            "email",
            format!("email must be at most {MAX_LOGIN_EMAIL_CHARS} characters"),
        ));
    }
    validation::email("email", email)?;
    let attempt = throttle::begin(
        db,
        limits,
        &throttle::account_key(email),
        &throttle::client_key(client),
    )
    .await?;
    match check_password(db, passwords, email, password).await {
        Ok(user) => {
            throttle::succeeded(db, attempt).await?;
            Ok(user)
        }
        Err(err @ AppError::Unauthenticated(_)) => {
            throttle::failed(db, limits).await?;
            Err(err)
        }
        Err(other) => Err(other),
    }
}

async fn check_password(
    db: &impl ConnectionTrait,
    passwords: &PasswordHasher,
    email: &str,
    password: &str,
) -> AppResult<User> {
    let invalid = || AppError::Unauthenticated("Login failed: invalid email or password".into());
    // An address no account can have is just a failed login (and must not reach the database).
    let lookup = if email.contains('\0') {
        None
    } else {
        find_by_email(db, email).await?.filter(|user| !user.deleted)
    };
    let Some(user) = lookup else {
        passwords.verify_decoy(password).await?;
        return Err(invalid());
    };
    match passwords.verify(password, &user.password_hash).await? {
        Verification::Invalid => Err(invalid()),
        Verification::Valid | Verification::ValidLegacyKept => Ok(user),
        Verification::ValidNeedsRehash => {
            // Upgrade bcrypt (Node) or outdated argon2 hashes while we hold the plain password.
            let fresh = passwords.hash(password).await?;
            let mut active: ActiveModel = user.into();
            active.password_hash = Set(fresh);
            active.updated_at = Set(Utc::now());
            Ok(active.update(db).await?)
        }
    }
}
