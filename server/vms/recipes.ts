import { cloneRecipe } from './clone-recipe';
import { lifecycleRecipes } from './lifecycle-recipes';
import { powerRecipes } from './power-recipe';

/** Every recipe of this module, for the job runner (services.ts). */
export const vmRecipes = [...Object.values(lifecycleRecipes), cloneRecipe, ...Object.values(powerRecipes)];
