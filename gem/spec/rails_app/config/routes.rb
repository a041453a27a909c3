# frozen_string_literal: true

Rails.application.routes.draw do
  get "/up", to: "health#show"
  resources :orders, only: %i[create show]
end
